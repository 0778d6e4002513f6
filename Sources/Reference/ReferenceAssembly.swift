import Spec
import Wire

/// The one place the reference service is put together from an environment: `mcsec serve`
/// and the in-process target both build it here, so the two cannot drift apart.
public struct ReferenceAssembly: Sendable {
    public let configuration: Configuration
    /// The service: one worker per process of the modelled deployment.
    public let service: ProcessWorkers
    public let log: ServiceLog

    /// Why the assembly failed: the environment is not one the service accepts, or the
    /// configured Redis cannot be reached at start-up.
    public enum Failure: Error, CustomStringConvertible {
        case configuration(ConfigurationError)
        case store(any Error)

        public var description: String {
            switch self {
            case .configuration(let error): return "\(error)"
            case .store(let error): return "\(error)"
            }
        }
    }

    /// - Parameters:
    ///   - workers: processes of the deployment; with the memory backend each has its own
    ///     limiter, with Redis they share the one store, as the real service does.
    ///   - storeUnavailable: every limiter call fails, as with a Redis that became unreachable
    ///     after start-up (the fail-open path).
    public init(environment: [String: String], world: World, mutations: ReferenceMutations = [], workers: Int = 1,
                time: any TimeSource = SystemTimeSource(), log: ServiceLog = ServiceLog(),
                storeUnavailable: Bool = false) throws(Failure) {
        let configuration: Configuration
        do { configuration = try Configuration.parse(environment: environment) } catch { throw .configuration(error) }
        var store: (any RateLimitStore)? = nil
        if storeUnavailable {
            store = UnavailableStore()
        } else if case .redis(let url) = configuration.rateLimitBackend {
            // PING first: a Redis that is down or refuses the password stops the start-up (the
            // message names the URL with its credentials hidden) rather than failing open forever.
            let timeout = ReferenceMutations.redisTimeout(configured: configuration.redisTimeout, mutations: mutations)
            do { store = try RedisRateLimitStore.connect(url: url, timeout: timeout) } catch { throw .store(error) }
        }
        self.configuration = configuration
        self.log = log
        // A nil store: each worker's service makes its own memory store.
        service = ProcessWorkers(services: (0..<max(1, workers)).map { _ in
            ReferenceService(configuration: configuration, world: world, time: time, store: store, log: log, mutations: mutations)
        })
    }
}

extension ReferenceAssembly {
    /// The answer to a request the HTTP layer refuses before the service sees it (malformed,
    /// too slow): the service's error shape, request id and security headers, as for every
    /// other response. Servers of the reference (`mcsec serve`, the fuzzer's oracle) use this.
    public var protocolErrorResponder: @Sendable (Int, String) -> HTTPResponse {
        let service = self.service
        return { status, detail in service.handleProtocolError(status: status, detail: detail) }
    }
}

/// A limiter store that fails on every call, as a Redis that became unreachable does.
public final class UnavailableStore: RateLimitStore {
    struct Unreachable: Error, CustomStringConvertible {
        var description: String { "connection refused (simulated Redis outage)" }
    }
    public init() {}
    public func record(policy: RateLimitPolicy, client: String, now: Double) throws -> Bool { throw Unreachable() }
}
