import Foundation
import Synchronization
import Testing
@testable import NetlinkPush
@testable import NetlinkPushTesting

/// A fake-kernel socket whose `send` holds the sending thread after the kernel queued
/// its answer, as a thread preempted right after `sendmsg` would be, and runs `stall`
/// meanwhile.
private final class StallingSocket: TransportSocket, Sendable {
    let base: FakeSocket
    let stall: @Sendable () -> Void
    init(_ base: FakeSocket, stall: @escaping @Sendable () -> Void) {
        self.base = base
        self.stall = stall
    }
    var pollDescriptor: Int32 { base.pollDescriptor }
    var portID: UInt32 { base.portID }
    func joinGroup(_ group: Int32) throws(NetlinkPushError) { try base.joinGroup(group) }
    func leaveGroup(_ group: Int32) { base.leaveGroup(group) }
    func send(_ request: OutgoingRequest) throws(NetlinkPushError) {
        try base.send(request)
        stall()
    }
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(NetlinkPushError) -> DatagramResult {
        try base.receive(into: buffer)
    }
    func receiveBatch(into slots: ReceiveSlots) throws(NetlinkPushError) -> BatchResult {
        try base.receiveBatch(into: slots)
    }
    func close() { base.close() }
}

private struct StallingTransport: Transport {
    let fake: FakeTransport
    let stall: @Sendable () -> Void
    func openSocket(_ role: SocketRole) throws(NetlinkPushError) -> any TransportSocket {
        guard let s = try fake.openSocket(role) as? FakeSocket else { throw .closed }
        return StallingSocket(s, stall: stall)
    }
    func resolveFamily() throws(NetlinkPushError) -> FamilyInfo { try fake.resolveFamily() }
    func controllerNotifyGroup() -> Int32? { fake.controllerNotifyGroup() }
}

@Suite("the control I/O thread and its callers (fake kernel)", .timeLimit(.minutes(1)),
       .disabled(if: Timing.inVM, fakeKernelInVM))
struct ControlIOTests {
    @Test("an answer queued while its caller is held after the send is read by the caller, even with the I/O thread polling")
    func callerKeepsItsAnswer() throws {
        let kernel = FakeKernel()
        let fake = FakeTransport(kernel: kernel)
        let family = try fake.resolveFamily()
        let other = try ControlConnection(transport: fake)
        // While the caller is held, a dump on another socket wakes the I/O thread, which
        // then polls every socket with a call in flight; the caller's answer is queued.
        let stall: @Sendable () -> Void = {
            ControlIO.shared.submit(
                other.entry, .replay(from: 1), familyID: family.id, timeoutMs: 5_000, awaitingReply: false,
                completion: ControlIO.Completion { _ in })
            usleep(50_000)
        }
        let held = try ControlConnection(transport: StallingTransport(fake: fake, stall: stall))
        var onCaller = 0
        var answered = 0
        for _ in 0..<5 {
            _ = kernel.publish()
            let caller = pthread_self()
            let ranOn = Mutex<(thread: pthread_t, ok: Bool)?>(nil)
            let completion = ControlIO.Completion { a in
                let ok = if case .success = a { true } else { false }
                ranOn.withLock { $0 = (pthread_self(), ok) }
            }
            ControlIO.shared.submit(
                held.entry, .getStats, familyID: family.id, timeoutMs: 5_000, awaitingReply: false,
                completion: completion)
            if let r = ranOn.withLock({ $0 }) {
                if r.ok { answered += 1 }
                if pthread_equal(r.thread, caller) != 0 { onCaller += 1 }
            }
        }
        #expect(answered == 5, "\(answered) of 5 answered by the time submit returned")
        #expect(onCaller == 5, "\(onCaller) of 5 completed on the caller's thread")
        held.close()
        other.close()
    }
}
