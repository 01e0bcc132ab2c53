internal import CNetlink
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// Starts a detached POSIX thread (not a Swift concurrency task: the reader blocks
/// in poll() and must never occupy the cooperative pool).
///
/// `run` is a `sending` closure: what it captures (the reader with its socket) moves
/// to the new thread, and the compiler checks that the caller no longer touches it.
enum DetachedThread {
    private final class Body {
        let name: String
        let run: () -> Void
        init(name: String, run: @escaping () -> Void) {
            self.name = name
            self.run = run
        }
    }

    static func start(name: String, _ run: sending @escaping () -> Void) throws(NetlinkPushError) {
        let body = Unmanaged.passRetained(Body(name: name, run: run))
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { ctx in
            guard let ctx else { return nil }
            let body = Unmanaged<Body>.fromOpaque(ctx).takeRetainedValue()
            cnl_set_thread_name(String(body.name.prefix(15)))
            body.run()
            return nil
        }, body.toOpaque())
        if rc != 0 {
            body.release()
            throw .socket(operation: .connect, errno: rc, detail: "pthread_create")
        }
        pthread_detach(tid)
    }
}
