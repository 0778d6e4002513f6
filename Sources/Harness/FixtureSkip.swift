import TargetFiles

extension Runner {
    /// Why `f` is skipped against this target, decided before anything is sent: what the
    /// target cannot do, what its file lacks (the symbol table says which entry), a
    /// configuration it does not declare, waits not allowed, and each kind's own conditions.
    /// The one place a fixture is judged unrunnable; only what the run meets later (rate-limit
    /// slots already spent, a configuration the target refuses) is thrown as `SkipFixture`.
    func skipReason(_ f: Fixture) -> String? {
        let caps = target.capabilities
        let config = declared.with(overrides: f.config)
        /// What only one kind of fixture needs.
        func kindSkipReason(_ f: Fixture) -> String? {
            switch f.kind {
            case .dockerfile(let d):
                switch d.source {
                case .inline where !caps.inProcess:
                    return "checks the documented Dockerfile shape with the embedded checker; it says nothing about this target"
                case .targetFile(let which):
                    let files = target.targetFile.dockerfiles
                    let names = which == "each" ? files.keys.sorted() : [which]
                    if names.isEmpty || !names.allSatisfy({ files[$0] != nil }) {
                        return which == "each" ? "the target file names no Dockerfiles (dockerfiles)" : "the target file has no dockerfiles.\(which)"
                    }
                default: break
                }
            case .limit(let l):
                if RequestBudget.policy(l.namespace) == nil { return "unknown limiter \(l.namespace)" }
            case .fault:
                guard declared.backend == "redis" else {
                    return "about the redis rate-limit backend; the target declares \(declared.backend)"
                }
                if options.faultInjector == nil {
                    if target.targetFile.redisURL == nil {
                        return "the target file has no redis.url (the deployment's rate-limit Redis) to inject the fault into"
                    }
                    return "stalls or disconnects the deployment's Redis (every client of it, queues too, for a few seconds); run with --inject-faults to allow that"
                }
            case .http, .startup, .deployment:
                break
            }
            return nil
        }
        if f.requirements.inProcess && !caps.inProcess {
            if let why = f.requirements.inProcessReason { return "observable only in-process: \(why)" }
            if f.storeUnavailable { return "needs a Redis outage injected into the limiter, which only the in-process reference allows" }
            return "observable only in-process"
        }
        if f.requirements.serviceLog && !caps.serviceLog {
            return "checks the service's log lines, which mcsec can read only from a server it runs itself (in-process, or mcsec serve with --over-http)"
        }
        if let backend = f.requirements.backend, config.backend != backend {
            return "about the \(backend) rate-limit backend; the target declares \(config.backend)"
        }
        if f.requirements.sharedLimiter, config.backend == "memory", target.targetFile.workers > 1 {
            return "counts exact limits, but the target declares \(target.targetFile.workers) workers with the memory backend (limits are per worker)"
        }
        if !f.config.isEmpty, !caps.configOverrides, !declared.alreadySatisfies(f.config) {
            let wanted = f.config.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ", ")
            return "needs the server configured with \(wanted); the target file does not declare that configuration"
        }
        if case .startup = f.kind, !caps.startup {
            return "start-up can only be observed on a server mcsec starts itself"
        }
        let steps: [Step]
        switch f.kind {
        case .http(let s): steps = s
        case .limit(let l): steps = [.request(RequestStep(request: l.request, repeatCount: 1, expectations: [], observation: nil))]
        case .fault(let c): steps = [.request(RequestStep(request: c.request, repeatCount: 1, expectations: [], observation: nil))]
        default: return kindSkipReason(f)
        }
        for symbol in Set(f.symbols.map { SymbolFilter.split($0).base }).sorted() {
            if let missing = target.targetFile.missing(symbol) { return missing }
        }
        let sourceCount = f.sourceCount
        var waits = 0.0
        for step in steps {
            switch step {
            case .advance(let s): waits += s
            case .request(let r):
                if r.request.framing.needsRawSocket && !caps.rawFraming {
                    return "needs raw framing (\(r.request.framing)) that only the raw client can send"
                }
                if case .none = r.request.framing, !caps.halfClose {
                    return "sends a body with no framing header, ended by closing the sending side, which a TLS connection cannot do while the answer is still to come"
                }
            }
        }
        if case .fixed(let pool) = caps.sourceAddresses, sourceCount > pool.count {
            return "needs \(sourceCount) source addresses; the target has \(pool.count) (declare more in sourceAddresses)"
        }
        if waits > 0, !caps.instantClock, !options.allowWaits {
            return "needs \(Runner.seconds(waits)) of waiting for the limiter's window; run with --allow-waits"
        }
        return kindSkipReason(f)
    }
}
