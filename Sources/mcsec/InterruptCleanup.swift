#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import Harness
import Synchronization

/// What an interrupted command undoes before it exits: SIGINT, SIGTERM and SIGHUP run the
/// command's handler (unpause an injected Redis stall, stop the `mcsec serve` or `redis-server`
/// processes it started, or stop sending and report), then end the process with the
/// conventional status (128 + signal). Children it started also stop by themselves when it
/// dies outright (their standard input closes), and Redis ends a stall by itself when its time
/// is up.
enum InterruptCleanup {
    enum Action {
        /// The handler has arranged an orderly end (the command reports and returns); a further
        /// signal runs the handler again.
        case keepRunning
        /// Exit now with 128 + signal, after printing "interrupted" and the handler's note.
        case exit(String?)
    }

    /// Starts listening; the caller keeps the returned sources for as long as the cleanup may
    /// be needed (a released source stops listening).
    static func install(command: String, _ handler: @escaping @Sendable (Int32) -> Action) -> [DispatchSourceSignal] {
        var sources: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                switch handler(number) {
                case .keepRunning:
                    return
                case .exit(let said):
                    // Short-lived helpers (redis-benchmark, openssl) run in process groups of
                    // their own, out of reach of a Ctrl-C to ours: stop them too.
                    for pid in children.withLock({ $0 }) { kill(pid, SIGTERM) }
                    FileHandle.standardError.write(Data("\nmcsec \(command): interrupted\(said.map { "; \($0)" } ?? "")\n".utf8))
                    exit(128 + number)
                }
            }
            source.resume()
            sources.append(source)
        }
        return sources
    }

    /// The usual case: undo, say what was undone, exit.
    static func install(command: String, cleanup: @escaping @Sendable () -> String?) -> [DispatchSourceSignal] {
        install(command: command) { _ in
            cleaning.store(true, ordering: .sequentiallyConsistent)
            return .exit(cleanup())
        }
    }

    /// Helper processes running now (see `ExternalTool.output`).
    static let children = Mutex<Set<Int32>>([])

    /// Set while a cleanup runs: the work it interrupts may fail meanwhile (its server is
    /// being stopped), and that failure must not end the process before the cleanup does.
    private static let cleaning = Atomic<Bool>(false)

    /// Called before the command's own exit: while a cleanup runs, waits for it to end the
    /// process (with 128 + signal) instead.
    static func holdIfInterrupted() {
        guard cleaning.load(ordering: .sequentiallyConsistent) else { return }
        while true { pause() }
    }
}
