import TargetFiles
import Wire

/// A server built in this process for one fixture: the handler that answers and its log.
public struct InProcessService: Sendable {
    public var handler: any HTTPHandler
    public var logLines: @Sendable () -> [String]
    public var clearLog: @Sendable () -> Void

    public init(handler: any HTTPHandler, logLines: @escaping @Sendable () -> [String] = { [] },
                clearLog: @escaping @Sendable () -> Void = {}) {
        self.handler = handler
        self.logLines = logLines
        self.clearLog = clearLog
    }
}

/// The default target: a service answering in this process. Every fixture gets a fresh
/// service (fresh limiters, fresh log) on a manual clock, so clock advances are instant and
/// no fixture can affect another; configuration overrides simply build the service from a
/// different environment.
public final class InProcessTarget: Target {
    /// Builds a service from an environment, a clock, and whether the limiter's store fails
    /// on every call (as an unreachable Redis would). Throws a message for an environment the
    /// service refuses (that fixture then fails at start-up).
    public typealias Factory = @Sendable (_ environment: [String: String], _ time: ManualTimeSource,
                                          _ storeUnavailable: Bool) throws -> InProcessService

    public let name: String
    public let targetFile: TargetFile
    private let factory: Factory
    private let addresses = AddressAllocator()

    public init(name: String, targetFile: TargetFile, factory: @escaping Factory) {
        self.name = name
        self.targetFile = targetFile
        self.factory = factory
    }

    public var capabilities: TargetCapabilities {
        TargetCapabilities(inProcess: true, instantClock: true, rawFraming: true, sourceAddresses: .unlimited(addresses),
                           configOverrides: true, freshStatePerFixture: true, startup: true, serviceLog: true)
    }

    public func session(environment: [String: String], storeUnavailable: Bool) throws -> any TargetSession {
        let time = ManualTimeSource()
        let service: InProcessService
        do {
            service = try factory(targetFile.config.merging(environment) { _, new in new }, time, storeUnavailable)
        } catch let skip as SkipFixture {
            throw skip
        } catch {
            throw InProcessStartFailure(message: "\(error)")
        }
        return InProcessSession(service: service, time: time)
    }

    public func startup(environment: [String: String]) throws -> StartupOutcome {
        do {
            _ = try factory(targetFile.config.merging(environment) { _, new in new }, ManualTimeSource(), false)
            return StartupOutcome(started: true, message: "")
        } catch let skip as SkipFixture {
            throw skip
        } catch {
            return StartupOutcome(started: false, message: "\(error)")
        }
    }

    public func close() {}
}

/// The in-process service refused to start with the fixture's environment.
public struct InProcessStartFailure: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "the service did not start: \(message)" }
}

final class InProcessSession: TargetSession {
    let service: InProcessService
    let time: ManualTimeSource

    init(service: InProcessService, time: ManualTimeSource) {
        self.service = service
        self.time = time
    }

    func send(_ outgoing: OutgoingRequest) throws -> HTTPResponse {
        service.handler.handle(InProcessSession.request(for: outgoing))
    }

    /// What a server would hand the handler for `outgoing`: the framing header the client
    /// sent, and the body as a stream when it is chunked or its declared length is not the truth.
    static func request(for outgoing: OutgoingRequest) -> HTTPRequest {
        // Field values as an HTTP parser hands them over: without leading and trailing spaces
        // and tabs (RFC 9110 5.5), so in-process answers are the ones a server gives.
        var headers = HTTPFields()
        for field in outgoing.request.headers {
            headers.append(field.name, String(field.value.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()))
        }
        let body = outgoing.body
        let handed: HTTPBody
        switch outgoing.framing {
        case .contentLength:
            if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(outgoing.request.method) {
                headers.append("Content-Length", String(body.count))
            }
            handed = .bytes(body)
        case .declaredLength(let n):
            headers.append("Content-Length", String(n))
            handed = .stream(ChunkListStream([body]))
        case .chunked(let size):
            headers.append("Transfer-Encoding", "chunked")
            var chunks: [[UInt8]] = []
            var start = 0
            while start < body.count {
                let end = min(start + size, body.count)
                chunks.append(Array(body[start..<end]))
                start = end
            }
            handed = .stream(ChunkListStream(chunks))
        case .none:
            handed = .stream(ChunkListStream(body.isEmpty ? [] : [body]))
        }
        if !headers.contains("Host") { headers.append("Host", "mcsec.invalid") }
        var request = outgoing.request
        request.headers = headers
        request.body = handed
        request.peer = outgoing.source ?? "127.0.0.1"
        return request
    }


    func advance(by seconds: Double) throws { time.advance(by: seconds) }
    func logLines() -> [String] { service.logLines() }
    func clearLog() { service.clearLog() }
    func close() {}
}
