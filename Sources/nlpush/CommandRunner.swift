#if canImport(Glibc)
import Glibc
#endif
import Foundation
internal import CNetlink
import Synchronization

/// How one run of `respond --exec`'s command ended.
enum CommandEnding: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// Ran past `--timeout`: killed (SIGKILL to its process group).
    case timedOut
    /// Killed by a second Ctrl-C (or SIGTERM) while respond was stopping.
    case interrupted
    /// `/bin/sh` could not be started (the errno of posix_spawn).
    case notStarted(Int32)

    /// The status respond answers the request with: the exit status, 128 + the signal
    /// number when a signal ended it (as the shell says), and a negative errno when
    /// respond ended it or could not start it.
    var status: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let sig): return 128 + sig
        case .timedOut: return -ETIMEDOUT
        case .interrupted: return -ECANCELED
        case .notStarted(let err): return -err
        }
    }

    var text: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let sig): return "killed by signal \(sig)"
        case .timedOut: return "timed out, killed"
        case .interrupted: return "interrupted, killed"
        case .notStarted(let err): return "not started: \(String(cString: strerror(err)))"
        }
    }
}

/// What running the command for one request gave.
struct CommandResult: Sendable {
    var ending: CommandEnding
    /// Its stdout, at most the output limit.
    var output: [UInt8] = []
    /// It wrote more than the limit (the rest was read and dropped, so it never blocks).
    var truncated = false
    /// It ended or closed its stdin before reading the whole payload (EPIPE, or stdout
    /// closed first): not an error, some commands do not need their input.
    var inputUnread = false
}

/// The commands running now, so that a timer or a second Ctrl-C can kill them.
final class RunningCommands: Sendable {
    private struct Entry {
        var abortFD: Int32
        var killedAs: CommandEnding?
    }
    private let state = Mutex<[pid_t: Entry]>([:])

    var count: Int { state.withLock { $0.count } }

    fileprivate func add(_ pid: pid_t, abortFD: Int32) {
        state.withLock { $0[pid] = Entry(abortFD: abortFD) }
    }

    /// Removes `pid`; what it was killed as, if it was.
    fileprivate func remove(_ pid: pid_t) -> CommandEnding? {
        state.withLock { $0.removeValue(forKey: pid)?.killedAs }
    }

    /// SIGKILL to the command's process group (the shell and what it started), and
    /// wakes its I/O thread.
    func kill(_ pid: pid_t, as ending: CommandEnding) {
        state.withLock { s in
            guard var e = s[pid], e.killedAs == nil else { return }
            e.killedAs = ending
            s[pid] = e
            _ = Glibc.kill(-pid, SIGKILL)
            var one: UInt8 = 1
            _ = Glibc.write(e.abortFD, &one, 1)
        }
    }

    func killAll(as ending: CommandEnding) {
        let pids = state.withLock { Array($0.keys) }
        for p in pids { kill(p, as: ending) }
    }
}

/// Runs `/bin/sh -c COMMAND` for one request: the payload on its stdin, its stdout
/// collected, its exit awaited, all on one thread per command that waits only for the
/// command (I/O and its exit); the timeout is a sleeping task, which kills it.
enum CommandRunner {
    /// Pipes are made close-on-exec in two steps (Glibc's module has no pipe2): spawning
    /// under the same lock keeps another command from inheriting them in between.
    private static let spawnLock = Mutex(())

    static func run(
        _ command: String, input: [UInt8], timeout: Duration, outputLimit: Int, running: RunningCommands
    ) async -> CommandResult {
        let spawned: (pid: pid_t, stdin: Int32, stdout: Int32, abortRead: Int32, abortWrite: Int32)
        switch spawn(command) {
        case .failure(let err): return CommandResult(ending: .notStarted(err.code))
        case .success(let s): spawned = s
        }
        running.add(spawned.pid, abortFD: spawned.abortWrite)
        let timer = Task {
            try await Task.sleep(for: timeout)
            running.kill(spawned.pid, as: .timedOut)
        }
        let result = await withCheckedContinuation { (done: CheckedContinuation<CommandResult, Never>) in
            let thread = Thread {
                var r = pump(
                    input: input, stdin: spawned.stdin, stdout: spawned.stdout, abort: spawned.abortRead,
                    limit: outputLimit)
                r.ending = reap(spawned.pid, running: running)
                done.resume(returning: r)
            }
            thread.name = "nlpush-exec"
            thread.start()
        }
        timer.cancel()
        close(spawned.abortRead)
        close(spawned.abortWrite)
        return result
    }

    struct SpawnError: Error { var code: Int32 }

    private static func spawn(_ command: String) -> Result<
        (pid: pid_t, stdin: Int32, stdout: Int32, abortRead: Int32, abortWrite: Int32), SpawnError
    > {
        spawnLock.withLock { _ in
            var inPipe: [Int32] = [-1, -1]
            var outPipe: [Int32] = [-1, -1]
            var abortPipe: [Int32] = [-1, -1]
            func closeAll() { for fd in inPipe + outPipe + abortPipe where fd >= 0 { close(fd) } }
            guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&abortPipe) == 0 else {
                let e = errno
                closeAll()
                return .failure(SpawnError(code: e))
            }
            for fd in inPipe + outPipe + abortPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], STDIN_FILENO)
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], STDOUT_FILENO)

            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            defer { posix_spawnattr_destroy(&attr) }
            // Its own process group: the terminal's Ctrl-C reaches respond only (which
            // decides what happens to running commands), and a kill reaches the shell's
            // children too. Signals respond ignores or handles are reset to their
            // defaults, and none is blocked.
            posix_spawnattr_setflags(
                &attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
            posix_spawnattr_setpgroup(&attr, 0)
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for sig in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD] { sigaddset(&defaults, sig) }
            posix_spawnattr_setsigdefault(&attr, &defaults)
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigmask(&attr, &none)

            // The command gets none of respond's capabilities: a unit grants respond
            // CAP_NET_ADMIN as an ambient capability, which execve would pass on. The
            // ambient set is per thread; this one keeps its effective set.
            _ = cnl_clear_ambient_caps()
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sh"), strdup("-c"), strdup(command), nil]
            defer { for a in argv { free(a) } }
            var pid: pid_t = 0
            let err = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ)
            close(inPipe[0])
            close(outPipe[1])
            guard err == 0 else {
                for fd in [inPipe[1], outPipe[0]] + abortPipe { close(fd) }
                return .failure(SpawnError(code: err))
            }
            _ = fcntl(inPipe[1], F_SETFL, fcntl(inPipe[1], F_GETFL) | O_NONBLOCK)
            _ = fcntl(outPipe[0], F_SETFL, fcntl(outPipe[0], F_GETFL) | O_NONBLOCK)
            return .success((pid, inPipe[1], outPipe[0], abortPipe[0], abortPipe[1]))
        }
    }

    /// Writes `input` to the command's stdin and reads its stdout until it closes it, or
    /// until the abort pipe says it was killed. Closes both descriptors.
    private static func pump(input: [UInt8], stdin: Int32, stdout: Int32, abort: Int32, limit: Int) -> CommandResult {
        var r = CommandResult(ending: .exited(0))
        var inFD: Int32 = stdin
        var written = 0
        func closeInput() {
            if inFD >= 0 { close(inFD) }
            inFD = -1
        }
        if input.isEmpty { closeInput() }
        var buffer = [UInt8](repeating: 0, count: 65536)
        loop: while true {
            var fds = [pollfd(fd: stdout, events: Int16(POLLIN), revents: 0), pollfd(fd: abort, events: Int16(POLLIN), revents: 0)]
            if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            // No timeout: the command's exit, its output or a kill (abort pipe) wakes it.
            let n = poll(&fds, nfds_t(fds.count), -1)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if fds[1].revents != 0 { break }
            if inFD >= 0, fds[2].revents != 0 {
                let w = input.withUnsafeBytes { b in
                    b.baseAddress.map { Glibc.write(inFD, $0 + written, b.count - written) } ?? 0
                }
                if w > 0 {
                    written += w
                    if written == input.count { closeInput() }
                } else if w < 0 && (errno == EAGAIN || errno == EINTR) {
                    // not writable after all
                } else {
                    r.inputUnread = true  // EPIPE: it closed its stdin (or ended) without reading it all
                    closeInput()
                }
            }
            if fds[0].revents != 0 {
                let got = buffer.withUnsafeMutableBytes { b in b.baseAddress.map { Glibc.read(stdout, $0, b.count) } ?? 0 }
                if got > 0 {
                    let room = max(0, limit - r.output.count)
                    r.output.append(contentsOf: buffer.prefix(min(room, got)))
                    if got > room { r.truncated = true }
                } else if got < 0 && (errno == EAGAIN || errno == EINTR) {
                    continue
                } else {
                    break loop  // EOF: it closed its stdout
                }
            }
        }
        if inFD >= 0 && written < input.count { r.inputUnread = true }
        closeInput()
        close(stdout)
        return r
    }

    /// Waits for the command to end (it has, or is about to: its stdout is closed, or it
    /// was killed); how it ended. It leaves ``RunningCommands`` while it is a zombie, so
    /// that no kill can reach another process that reuses its pid.
    private static func reap(_ pid: pid_t, running: RunningCommands) -> CommandEnding {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        if let killed = running.remove(pid) {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return killed
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return .exited(-1) }
        }
        let sig = status & 0x7f
        return sig == 0 ? .exited((status >> 8) & 0xff) : .signaled(sig)
    }
}
