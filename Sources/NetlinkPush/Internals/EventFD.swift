internal import CNetlink
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// An eventfd used to wake a thread blocked in poll().
final class EventFD: @unchecked Sendable {
    // fd is written once at init; close() happens after the owner stopped using it.
    let fd: Int32

    init() throws(NetlinkPushError) {
        let fd = eventfd(0, cnl_efd_flags())
        guard fd >= 0 else { throw .socket(operation: .connect, errno: Glibc.errno, detail: "eventfd") }
        self.fd = fd
    }

    func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, 8) }
    }

    func drain() {
        var v: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &v) { read(fd, $0.baseAddress, 8) }
    }

    func close() { _ = Glibc.close(fd) }
}
