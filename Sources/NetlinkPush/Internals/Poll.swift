internal import CNetlink
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

enum Poll {
    struct Ready {
        var first = false
        var second = false
    }

    /// poll() on up to two descriptors; `timeoutMs` < 0 waits forever. EINTR counts as
    /// a timeout (the caller loops).
    static func wait(_ fd1: Int32, _ fd2: Int32?, timeoutMs: Int32) throws(NetlinkPushError) -> Ready {
        var fds = [pollfd(fd: fd1, events: Int16(POLLIN), revents: 0)]
        if let fd2 { fds.append(pollfd(fd: fd2, events: Int16(POLLIN), revents: 0)) }
        let n = poll(&fds, nfds_t(fds.count), timeoutMs)
        if n < 0 {
            if Glibc.errno == EINTR { return Ready() }
            throw .socket(operation: .receive, errno: Glibc.errno, detail: "poll")
        }
        let mask = Int16(POLLIN | POLLERR | POLLHUP)
        return Ready(first: fds[0].revents & mask != 0, second: fds.count > 1 && fds[1].revents & mask != 0)
    }
}

/// CLOCK_MONOTONIC in nanoseconds (the clock the kernel timestamps events with).
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
