#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif
internal import Dispatch
internal import Synchronization

/// A control socket: requests out, answers (replies, dumps, ACKs with the kernel's
/// real errno and extack) in.
///
/// The socket is non-blocking and read only by the library's control I/O thread
/// (``ControlIO``), which matches answers to requests by netlink sequence number, so
/// any number of requests can be in flight on one socket at once. Callers send from
/// their own thread (a non-blocking `sendmsg`) and then either `await` the answer
/// (``perform(_:familyID:timeoutMs:awaitingReply:onMessage:)-async``) or, on the
/// library's own threads and in the synchronous setup paths, wait for it with a
/// deadline (``performBlocking(_:familyID:timeoutMs:awaitingReply:onMessage:)``).
/// Timeouts are enforced by the I/O thread's poll deadline. No lock is held across a
/// blocking call.
final class ControlConnection: Sendable {
    /// Netlink port id of the socket (what the kernel registers subscribers by).
    let portID: UInt32
    let entry: ControlIO.Connection

    /// Default time to wait for the kernel's answer.
    static let defaultTimeoutMs: Int32 = 5_000

    /// The transport the socket came from (which also resolves the family).
    let transport: any Transport

    /// - Parameters:
    ///   - transport: where the socket comes from (libnl on a real kernel).
    ///   - bufferSize: the receive buffer of our recvmsg() calls; dump messages can hold
    ///     a 60 KiB event, so it must be well above 64 KiB.
    ///   - socketReceiveBuffer: the socket's kernel receive buffer (a default when nil).
    init(
        transport: any Transport = LibnlTransport(), bufferSize: Int = 128 * 1024, socketReceiveBuffer: Int? = nil
    ) throws(NetlinkPushError) {
        let sock = try transport.openSocket(.control(receiveBufferSize: socketReceiveBuffer))
        self.transport = transport
        portID = sock.portID
        entry = try ControlIO.shared.register(sock, bufferSize: max(bufferSize, 64 * 1024 + 4096))
    }

    deinit { ControlIO.shared.close(entry) }

    /// Closes the socket (on the I/O thread, at once); pending and later calls throw
    /// ``NetlinkPushError/closed``.
    func close() {
        ControlIO.shared.close(entry)
    }

    /// Resolves the nlpush family (id, version, events group) through the transport
    /// (libnl, over a short-lived socket of its own with a receive timeout).
    func resolveFamily() throws(NetlinkPushError) -> FamilyInfo {
        try transport.resolveFamily()
    }

    /// Sends `request` and suspends until its answer arrived. Data messages (a
    /// do-command's reply, or each message of a dump) are handed to `onMessage` in
    /// order once the answer is complete. Returns when the kernel's ACK (do) or
    /// NLMSG_DONE (dump) arrived; throws the kernel's errno and extack when it refuses,
    /// ``NetlinkPushError/timedOut(operation:)`` after `timeoutMs`, and
    /// ``NetlinkPushError/cancelled(operation:)`` at once when the task is cancelled (a
    /// late answer is then dropped).
    ///
    /// With `awaitingReply` (an EMIT with `NLPUSH_F_REPLY_WANTED`), it returns only once
    /// both the ACK and the `NLPUSH_CMD_REPLY` the kernel unicasts when the request ends
    /// have arrived, in either order (both carry the EMIT's nlmsg_seq).
    func perform(
        _ request: ControlRequest, familyID: UInt16, timeoutMs: Int32 = defaultTimeoutMs,
        awaitingReply: Bool = false,
        onMessage: (GenlMessage) throws(NetlinkPushError) -> Void = { _ in }
    ) async throws(NetlinkPushError) {
        try request.validate()
        let op = request.operation
        if Task.isCancelled { throw .cancelled(operation: op) }
        let cell = CancellationCell()
        let handoff = AnswerHandoff()
        let completion = ControlIO.Completion { handoff.deliver($0) }
        let answer: ControlIO.Answer = await withTaskCancellationHandler {
            if cell.install(completion) {
                ControlIO.shared.submit(
                    entry, request, familyID: familyID, timeoutMs: timeoutMs, awaitingReply: awaitingReply,
                    completion: completion)
            } else {
                completion.fire(.failure(.cancelled(operation: op)))
            }
            // Most answers arrived during submit (read on this thread): no suspension.
            return await handoff.answer()
        } onCancel: {
            cell.cancel(operation: op)
        }
        try Self.deliver(answer, to: onMessage)
    }

    /// The same as the async `perform`, waiting on the calling thread (at most
    /// `timeoutMs`, enforced by the I/O thread). For the library's own threads (the
    /// subscription reader) and the synchronous setup of a subscription.
    func performBlocking(
        _ request: ControlRequest, familyID: UInt16, timeoutMs: Int32 = defaultTimeoutMs,
        awaitingReply: Bool = false,
        onMessage: (GenlMessage) throws(NetlinkPushError) -> Void = { _ in }
    ) throws(NetlinkPushError) {
        try request.validate()
        let box = AnswerBox()
        let done = DispatchSemaphore(value: 0)
        let completion = ControlIO.Completion { a in
            box.answer.withLock { $0 = a }
            done.signal()
        }
        ControlIO.shared.submit(
            entry, request, familyID: familyID, timeoutMs: timeoutMs, awaitingReply: awaitingReply,
            completion: completion)
        // The I/O thread completes the call by its deadline; the margin only guards
        // against a stuck I/O thread.
        if done.wait(timeout: .now() + .milliseconds(Int(max(timeoutMs, 0)) + 5_000)) == .timedOut {
            completion.fire(.failure(.timedOut(operation: request.operation)))
        }
        guard let answer = box.answer.withLock({ $0 }) else { throw .timedOut(operation: request.operation) }
        try Self.deliver(answer, to: onMessage)
    }

    private static func deliver(
        _ answer: ControlIO.Answer, to onMessage: (GenlMessage) throws(NetlinkPushError) -> Void
    ) throws(NetlinkPushError) {
        let messages: [[UInt8]]
        switch answer {
        case .success(let m): messages = m
        case .failure(let e): throw e
        }
        for bytes in messages {
            let outcome: Result<Void, NetlinkPushError> = bytes.withUnsafeBytes { raw in
                do throws(NetlinkPushError) {
                    var it = NetlinkMessageIterator(raw)
                    while let m = try it.next() { try onMessage(try GenlMessage(m)) }
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            try outcome.get()
        }
    }
}

/// Links a task's cancellation handler to the completion of its call: whichever comes
/// first wins (``ControlIO/Completion`` fires once).
final class CancellationCell: Sendable {
    private let state = Mutex<(completion: ControlIO.Completion?, cancelled: Bool)>((nil, false))

    /// False when the task was cancelled already (the caller then completes at once).
    func install(_ c: ControlIO.Completion) -> Bool {
        state.withLock { s in
            if s.cancelled { return false }
            s.completion = c
            return true
        }
    }

    func cancel(operation: NetlinkPushError.Operation) {
        let c = state.withLock { s in
            s.cancelled = true
            return s.completion
        }
        c?.fire(.failure(.cancelled(operation: operation)))
    }
}

/// Hands a call's answer to its task: at once when it came before the task asked for it
/// (the kernel answered during `submit` and the caller read it), else by resuming the
/// task's continuation.
private final class AnswerHandoff: Sendable {
    private enum State {
        case pending
        case answered(ControlIO.Answer)
        case waiting(CheckedContinuation<ControlIO.Answer, Never>)
        case done
    }
    private let state = Mutex(State.pending)

    /// The completion's body: called once.
    func deliver(_ answer: ControlIO.Answer) {
        let waiter = state.withLock { s -> CheckedContinuation<ControlIO.Answer, Never>? in
            switch s {
            case .pending:
                s = .answered(answer)
                return nil
            case .waiting(let c):
                s = .done
                return c
            case .answered, .done:
                return nil
            }
        }
        waiter?.resume(returning: answer)
    }

    /// The answer; suspends only while there is none yet.
    func answer() async -> ControlIO.Answer {
        if let ready = take() { return ready }
        return await withCheckedContinuation { (c: CheckedContinuation<ControlIO.Answer, Never>) in
            let ready = state.withLock { s -> ControlIO.Answer? in
                if case .answered(let a) = s {
                    s = .done
                    return a
                }
                s = .waiting(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    private func take() -> ControlIO.Answer? {
        state.withLock { s in
            guard case .answered(let a) = s else { return nil }
            s = .done
            return a
        }
    }
}

/// Where a blocking call's answer lands (a `Mutex` cannot be captured by the
/// completion's escaping closure itself).
private final class AnswerBox: Sendable {
    let answer = Mutex<ControlIO.Answer?>(nil)
}
