internal import CNetlink
internal import Synchronization
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// Owns one file descriptor and closes it when it goes away. Not copyable, so the
/// descriptor is closed exactly once, and never while a copy could still use it.
struct FileDescriptor: ~Copyable, Sendable {
    let raw: Int32

    deinit { _ = Glibc.close(raw) }
}

/// An eventfd used to wake a thread blocked in poll().
///
/// Sendable without `@unchecked`: its state is the immutable descriptor number and a
/// `Mutex` around the owner. Any thread may ``signal()``; a signal after ``close()``
/// does nothing, so it can never write into a reused descriptor number. Only the
/// thread that polls ``fd`` closes it (or the last reference going away does).
final class EventFD: Sendable {
    /// The descriptor, for poll(); valid until ``close()``.
    let fd: Int32
    private let owner: Mutex<FileDescriptor?>

    init() throws(NetlinkPushError) {
        let fd = eventfd(0, cnl_efd_flags())
        guard fd >= 0 else { throw .socket(operation: .connect, errno: Glibc.errno, detail: "eventfd") }
        self.fd = fd
        owner = Mutex(FileDescriptor(raw: fd))
    }

    func signal() {
        owner.withLock { owner in
            guard owner != nil else { return }
            var one: UInt64 = 1
            _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, $0.count) }
        }
    }

    func drain() {
        owner.withLock { owner in
            guard owner != nil else { return }
            var v: UInt64 = 0
            _ = withUnsafeMutableBytes(of: &v) { read(fd, $0.baseAddress, $0.count) }
        }
    }

    /// Closes the descriptor now (idempotent); it closes by itself otherwise.
    func close() { owner.withLock { $0 = nil } }
}
