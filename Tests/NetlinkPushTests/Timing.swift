import Foundation

/// Bounds for "at once" in timing assertions.
enum Timing {
    /// Whether the tests run inside the test VM (Tests/vm/suites.d/10-swift.sh sets
    /// `NLPUSH_KMOD_DIR`): a TCG-emulated guest, 5 to 20 times slower than the host,
    /// with the whole suite running in parallel.
    static var inVM: Bool { ProcessInfo.processInfo.environment["NLPUSH_KMOD_DIR"] != nil }

    /// How long an operation that must end "at once" (a cancelled call) may take: 50 ms
    /// on a host, 250 ms in the VM, where one wake-up of a loaded guest has been measured
    /// at 70 ms. Both stay far below the deadlines the tests cancel before (1 s and more).
    static var prompt: Duration { inVM ? .milliseconds(250) : .milliseconds(50) }
}
