#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import Harness

/// What an interrupted `mcsec check` undoes before it exits: SIGINT, SIGTERM and SIGHUP run the
/// cleanup (unpause an injected Redis stall, stop the `mcsec serve` processes it started), then
/// end the process with the conventional status (128 + signal). Children it started also stop
/// by themselves when it dies outright (their standard input closes), and Redis ends a stall by
/// itself when its time is up.
enum InterruptCleanup {
    /// Starts listening; the caller keeps the returned sources for as long as the cleanup may
    /// be needed (a released source stops listening).
    static func install(_ cleanup: @escaping @Sendable () -> String?) -> [DispatchSourceSignal] {
        var sources: [DispatchSourceSignal] = []
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                let said = cleanup()
                FileHandle.standardError.write(Data("\nmcsec check: interrupted\(said.map { "; \($0)" } ?? "")\n".utf8))
                exit(128 + signal)
            }
            source.resume()
            sources.append(source)
        }
        return sources
    }
}
