import Foundation
import Harness
import Reference
import TargetFiles
import Wire

/// The reference service as a target: in-process (the default of `mcsec check`), and the
/// target file that describes its world to the fixtures.
public enum ReferenceTarget {
    /// The reference service built fresh for each fixture, optionally with deliberate faults
    /// (the suites must fail those).
    public static func inProcess(world: World, mutations: ReferenceMutations = []) -> InProcessTarget {
        let name = mutations.isEmpty ? "the in-process reference" : "the in-process reference with mutations \(mutations)"
        return InProcessTarget(name: name, targetFile: targetFile(for: world)) { environment, time, storeUnavailable in
            try makeService(world: world, mutations: mutations, environment: environment, time: time,
                            storeUnavailable: storeUnavailable)
        }
    }

    static func makeService(world: World, mutations: ReferenceMutations, environment: [String: String],
                            time: ManualTimeSource, storeUnavailable: Bool) throws -> InProcessService {
        let assembly = try ReferenceAssembly(environment: environment, world: world, mutations: mutations, time: time,
                                             storeUnavailable: storeUnavailable)
        let log = assembly.log
        return InProcessService(handler: assembly.service, logLines: { log.lines }, clearLog: { log.clear() })
    }

    /// The world described as a target file describes a deployment.
    public static func targetFile(for world: World) -> TargetFile { world.targetFile }

}
