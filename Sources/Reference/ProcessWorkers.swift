import Wire

/// A deployment of several worker processes behind one listener, as the real service runs
/// under a process manager: each worker has its own service and so, with the memory backend,
/// its own limiter (the page's warning: limits are per process). A connection stays on the
/// worker that accepted it; connections are spread round-robin, so one client that opens a
/// new connection per request reaches every worker in turn and gets up to workers × the limit.
public struct ProcessWorkers: HTTPHandler {
    public let services: [ReferenceService]

    public init(services: [ReferenceService]) {
        precondition(!services.isEmpty, "at least one worker")
        self.services = services
    }

    /// The worker serving connection `serial` (numbered from 1 in accept order).
    public func worker(forConnection serial: UInt64?) -> ReferenceService {
        guard let serial, serial > 0 else { return services[0] }
        return services[Int((serial - 1) % UInt64(services.count))]
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        worker(forConnection: request.connection).handle(request)
    }

    public func handleProtocolError(status: Int, detail: String) -> HTTPResponse {
        services[0].handleProtocolError(status: status, detail: detail)
    }
}
