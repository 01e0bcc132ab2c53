// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest, badattr: every operation's strict policy (lengths,
 * ranges, unknown and foreign attributes, flags), truncated messages and
 * commands the family does not implement.
 */
#include "common.h"

/* hand-built message with raw attribute bytes */
static int raw_cmd(struct nlr_sock *s, uint8_t cmd, uint16_t type,
		   const void *d, size_t len)
{
	struct nlr_msg *m = cmd_new(cmd, NLM_F_ACK);

	nlr_put(m, type, d, len);
	return transact_free(s, m, NULL, NULL);
}

void test_badattr(struct nlr_sock *c)
{
	static unsigned char big[NLPUSH_PAYLOAD_MAX + 1];
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct stats s0, s1;
	struct emit_args ea;
	struct nlr_msg *m;
	uint32_t u32v = 5;
	uint64_t u64v = 1;
	char name[64];
	int err;

	stats_now(c, &s0);

	err = raw_cmd(c, NLPUSH_CMD_ACK, NLPUSH_A_SEQ, &u32v, 4);
	check_err(err, -EINVAL, "", c, "ACK with a 4-byte SEQ -> EINVAL, "
		  "with extack");
	err = raw_cmd(c, NLPUSH_CMD_ACK, NLPUSH_A_SEQ, &u64v, 2);
	check_err(err, -EINVAL, NULL, c, "ACK with a 2-byte SEQ -> EINVAL");
	m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, 1);
	nlr_put(m, NLPUSH_A_STATUS, &u64v, 8);
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, c, "ACK with an 8-byte STATUS -> EINVAL");
	m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, 1);
	nlr_put_u32(m, NLPUSH_A_EPOCH, 1);
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, c, "ACK with a 4-byte EPOCH -> EINVAL");

	memset(&ea, 0, sizeof(ea));
	ea.payload = big;
	ea.len = sizeof(big);
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, "", c, "EMIT with a %d-byte payload -> "
		  "ERANGE, with extack", NLPUSH_PAYLOAD_MAX + 1);
	m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, 1);
	nlr_put(m, NLPUSH_A_PAYLOAD, big, sizeof(big));
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -ERANGE, NULL, c, "ACK with a %d-byte payload -> ERANGE",
		  NLPUSH_PAYLOAD_MAX + 1);

	err = raw_cmd(c, NLPUSH_CMD_EMIT, 200, &u32v, 4);
	check_err(err, -EINVAL, "Unknown attribute type", c,
		  "EMIT with unknown attribute type 200 -> EINVAL");
	err = raw_cmd(c, NLPUSH_CMD_EMIT, NLPUSH_A_SEQ, &u64v, 8);
	check_err(err, -EINVAL, "", c,
		  "EMIT with SEQ (not in its policy) -> EINVAL, with extack");
	err = raw_cmd(c, NLPUSH_CMD_SUBSCRIBE, NLPUSH_A_COUNT, &u32v, 4);
	check_err(err, -EINVAL, NULL, c,
		  "SUBSCRIBE with COUNT (not in its policy) -> EINVAL");

	memset(name, 'n', sizeof(name));
	name[NLPUSH_NAME_MAX] = 0;	/* 32 chars */
	err = do_subscribe(c, name);
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE with a 32-char name -> "
		  "EINVAL");
	err = raw_cmd(c, NLPUSH_CMD_SUBSCRIBE, NLPUSH_A_NAME, "abc", 3);
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE with an unterminated name "
		  "-> EINVAL");
	err = do_subscribe(c, "");
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE with an empty name -> "
		  "EINVAL");
	err = do_simple(c, NLPUSH_CMD_SUBSCRIBE);
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE without NAME -> EINVAL");
	err = do_subscribe_flags(c, "selftest-badflags", 1u << 5);
	check_err(err, -EINVAL, "", c, "SUBSCRIBE FLAGS with an unknown bit "
		  "-> EINVAL, with extack");
	err = do_subscribe_flags(c, "selftest-badflags", NLPUSH_F_REPLY_WANTED);
	check_err(err, -EINVAL, "", c, "SUBSCRIBE FLAGS=REPLY_WANTED -> "
		  "EINVAL, with extack");
	m = cmd_new(NLPUSH_CMD_SUBSCRIBE, NLM_F_ACK);
	nlr_put_str(m, NLPUSH_A_NAME, "selftest-badflags");
	nlr_put_u64(m, NLPUSH_A_FLAGS, NLPUSH_F_RESPONDER);
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE with an 8-byte FLAGS -> "
		  "EINVAL");
	name[NLPUSH_NAME_MAX - 1] = 0;	/* 31 chars */
	err = do_subscribe(c, name);
	err = err ? err : do_simple(c, NLPUSH_CMD_UNSUBSCRIBE);
	check_err(err, 0, NULL, c, "SUBSCRIBE with a 31-char name accepted");

	memset(&ea, 0, sizeof(ea));
	ea.has_count = true;
	ea.count = 0;
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, "", c, "EMIT COUNT 0 -> ERANGE, with extack");
	ea.count = NLPUSH_EMIT_COUNT_MAX + 1;
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, NULL, c, "EMIT COUNT %d -> ERANGE",
		  NLPUSH_EMIT_COUNT_MAX + 1);

	memset(&ea, 0, sizeof(ea));
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLAYED;
	err = do_emit(c, &ea, er);
	check_err(err, -EINVAL, NULL, c, "EMIT FLAGS=REPLAYED -> EINVAL");
	ea.flags = NLPUSH_F_RESPONDER;
	err = do_emit(c, &ea, er);
	check_err(err, -EINVAL, NULL, c, "EMIT FLAGS=RESPONDER -> EINVAL");
	ea.flags = 1u << 7;
	err = do_emit(c, &ea, er);
	check_err(err, -EINVAL, "", c, "EMIT FLAGS with an unknown bit -> "
		  "EINVAL, with extack");

	memset(&ea, 0, sizeof(ea));
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLY_WANTED;
	ea.has_count = true;
	ea.count = 2;
	err = do_emit(c, &ea, er);
	check_err(err, -EINVAL, "", c, "EMIT REPLY_WANTED with COUNT 2 -> "
		  "EINVAL, with extack");

	memset(&ea, 0, sizeof(ea));
	ea.has_timeout = true;
	ea.timeout_ms = 0;
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, NULL, c, "EMIT TIMEOUT_MS 0 -> ERANGE");
	ea.timeout_ms = NLPUSH_TIMEOUT_MS_MAX + 1;
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, NULL, c, "EMIT TIMEOUT_MS %d -> ERANGE",
		  NLPUSH_TIMEOUT_MS_MAX + 1);
	err = raw_cmd(c, NLPUSH_CMD_EMIT, NLPUSH_A_TYPE, &u64v, 8);
	check_err(err, -EINVAL, NULL, c, "EMIT with an 8-byte TYPE -> EINVAL");

	/* ops without attributes take none; dumps are strict too */
	err = raw_cmd(c, NLPUSH_CMD_GET_STATS, NLPUSH_A_SEQ, &u64v, 8);
	check_err(err, -EINVAL, NULL, c, "GET_STATS with an attribute -> "
		  "EINVAL");
	err = raw_cmd(c, NLPUSH_CMD_UNSUBSCRIBE, NLPUSH_A_NAME, "x", 2);
	check_err(err, -EINVAL, NULL, c, "UNSUBSCRIBE with an attribute -> "
		  "EINVAL");
	m = cmd_new(NLPUSH_CMD_REPLAY, NLM_F_DUMP);
	nlr_put_u32(m, NLPUSH_A_TYPE, 1);
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, c, "REPLAY with TYPE (not in its policy) "
		  "-> EINVAL");
	m = cmd_new(NLPUSH_CMD_REPLAY, NLM_F_DUMP);
	nlr_put_u32(m, NLPUSH_A_SEQ, 1);
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, c, "REPLAY with a 4-byte SEQ -> EINVAL");

	/* truncated messages */
	m = cmd_new(NLPUSH_CMD_GET_STATS, NLM_F_ACK);
	m->len = NLMSG_HDRLEN + 2;	/* half a genetlink header */
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, NULL,
		  "message shorter than the genetlink header -> EINVAL");
	m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, 1);
	((struct nlattr *)(m->buf + NLMSG_HDRLEN + GENL_HDRLEN))->nla_len = 40;
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, "", c, "attribute running past the message "
		  "end -> EINVAL, with extack");

	/* commands the family does not implement */
	err = do_simple(c, NLPUSH_CMD_EVENT);
	check_err(err, -EOPNOTSUPP, NULL, c, "EVENT sent to the kernel -> "
		  "EOPNOTSUPP");
	err = do_simple(c, NLPUSH_CMD_REPLY);
	check_err(err, -EOPNOTSUPP, NULL, c, "REPLY sent to the kernel -> "
		  "EOPNOTSUPP");
	err = do_simple(c, 99);
	check_err(err, -EOPNOTSUPP, NULL, c, "unknown command 99 -> "
		  "EOPNOTSUPP");

	/* nothing of the above published anything */
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, PUBLISHED, 0);
	CHECK_DELTA(&s0, &s1, SUBSCRIBERS, 0);
	CHECK_DELTA(&s0, &s1, RESPONDERS, 0);
	free(er);
}
