@preconcurrency import Glibc
import Dispatch
import Foundation
import Harness

/// Undoes injected faults when the run is interrupted: SIGINT, SIGTERM and SIGHUP unpause the
/// Redis first, then end the process with the conventional status (128 + signal). Redis also
/// ends a stall by itself when its time is up, so even SIGKILL leaves it paused for no longer
/// than the fault was to last.
enum FaultSignals {
    /// Starts listening; the caller keeps the returned sources for as long as faults may be
    /// in effect (a released source stops listening).
    static func undoOnSignal(_ injector: FaultInjector) -> [DispatchSourceSignal] {
        var sources: [DispatchSourceSignal] = []
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                injector.shutdown()
                FileHandle.standardError.write(Data("\nmcsec check: interrupted; Redis unpaused (\(injector.actions.joined(separator: ", ")))\n".utf8))
                exit(128 + signal)
            }
            source.resume()
            sources.append(source)
        }
        return sources
    }
}
