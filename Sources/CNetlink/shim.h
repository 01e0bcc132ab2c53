/*
 * CNetlink: the C surface the NetlinkPush Swift module needs.
 *
 * - libnl-3 / libnl-genl-3 (include dir /usr/include/libnl3 comes from
 *   `pkg-config --cflags libnl-genl-3.0`),
 * - the nlpush UAPI header (single source of truth for numbers),
 * - static inline wrappers for the libnl / kernel macros Swift cannot import.
 */
#ifndef NLPUSH_CNETLINK_SHIM_H
#define NLPUSH_CNETLINK_SHIM_H

#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/family.h>

#include "../../kmod/include/uapi/linux/nlpush.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* Constants that are macros (not importable when they are expressions). */
static inline int cnl_sol_netlink(void) { return SOL_NETLINK; }
static inline int cnl_netlink_ext_ack(void) { return NETLINK_EXT_ACK; }
static inline int cnl_netlink_cap_ack(void) { return NETLINK_CAP_ACK; }
static inline int cnl_netlink_broadcast_error(void) { return NETLINK_BROADCAST_ERROR; }
static inline int cnl_nla_hdrlen(void) { return NLA_HDRLEN; }
static inline int cnl_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }
static inline int cnl_genl_hdrlen(void) { return GENL_HDRLEN; }
static inline int cnl_nlmsg_alignto(void) { return NLMSG_ALIGNTO; }

/* Field offsets of the headers the pure Swift parser reads (struct nlmsghdr,
 * struct nlattr, struct genlmsghdr, struct nlmsgerr). */
static inline int cnl_nlmsg_type_offset(void) { return offsetof(struct nlmsghdr, nlmsg_type); }
static inline int cnl_nlmsg_flags_offset(void) { return offsetof(struct nlmsghdr, nlmsg_flags); }
static inline int cnl_nlmsg_seq_offset(void) { return offsetof(struct nlmsghdr, nlmsg_seq); }
static inline int cnl_nlmsg_pid_offset(void) { return offsetof(struct nlmsghdr, nlmsg_pid); }
static inline int cnl_nla_type_offset(void) { return offsetof(struct nlattr, nla_type); }
static inline int cnl_genl_cmd_offset(void) { return offsetof(struct genlmsghdr, cmd); }
static inline int cnl_genl_version_offset(void) { return offsetof(struct genlmsghdr, version); }
static inline int cnl_nlmsgerr_msg_offset(void) { return offsetof(struct nlmsgerr, msg); }
static inline uint16_t cnl_nla_type_mask(void) { return (uint16_t)NLA_TYPE_MASK; }
static inline int cnl_nl_auto_port(void) { return NL_AUTO_PORT; }
static inline int cnl_efd_flags(void) { return EFD_CLOEXEC | EFD_NONBLOCK; }

/* Names the calling thread (prctl is variadic, so not importable). */
static inline void cnl_set_thread_name(const char *name)
{
	prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

/*
 * Empties the calling thread's ambient capability set, so that a program it
 * executes does not inherit capabilities (nlpush respond --exec under a unit
 * with AmbientCapabilities=CAP_NET_ADMIN). The thread keeps its own effective
 * and permitted sets. Returns 0, or -1 with errno (EINVAL before Linux 4.3,
 * which has no ambient set: nothing to clear).
 */
static inline int cnl_clear_ambient_caps(void)
{
#ifdef PR_CAP_AMBIENT
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
#else
	errno = EINVAL;
	return -1;
#endif
}

/* Calls nla_for_each_attr over [head, head+len) and counts the attributes
 * (used by the tests to cross-check the pure Swift attribute walker). */
static inline int cnl_count_attrs(const void *head, int len)
{
	const struct nlattr *pos;
	int rem, n = 0;

	nla_for_each_attr(pos, (struct nlattr *)head, len, rem)
		n++;
	return rem == 0 ? n : -1;
}

/*
 * recvmmsg(2): Glibc's module is built without _GNU_SOURCE, so neither struct
 * mmsghdr nor recvmmsg() is importable. Same layout as struct mmsghdr; the
 * raw syscall sets errno like the libc wrapper. No timeout (non-blocking use).
 */
struct cnl_mmsghdr {
	struct msghdr msg_hdr;
	unsigned int msg_len;
};

static inline int cnl_recvmmsg(int fd, struct cnl_mmsghdr *vec, unsigned int vlen, int flags)
{
	return (int)syscall(SYS_recvmmsg, fd, vec, vlen, flags, (void *)0);
}

/* Pointer + length of the message a struct nl_msg holds. */
static inline const void *cnl_msg_bytes(struct nl_msg *msg, uint32_t *len)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	*len = nlh->nlmsg_len;
	return nlh;
}

#endif
