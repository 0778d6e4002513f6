import Reference
import TargetFiles
import Wire

/// The reference configured as the target: the world of its target file, the configuration it
/// declares, on a clock the fuzzer sets to the real send times. It answers over a loopback
/// HTTP server of its own, so a request reaches it as the same bytes from the same source
/// address as it reaches the target: framing, peer and proxy headers are judged by the
/// reference's own HTTP layer, not by a second parser here.
public final class FuzzOracle: @unchecked Sendable {
    public let world: World
    public let assembly: ReferenceAssembly
    public let time: ManualTimeSource
    private let server: HTTPServer
    public let port: Int

    public init(target: TargetFile) throws {
        world = try World.oracle(for: target)
        time = ManualTimeSource()
        do {
            // One worker: with several, which worker a connection reaches is the target's
            // choice, so limiter answers are graded as uncertain instead (see `FuzzRun`).
            assembly = try ReferenceAssembly(environment: target.config, world: world, workers: 1, time: time)
        } catch {
            throw FuzzInputError("the target file's configuration is not one the reference accepts: \(error)")
        }
        let service = assembly.service
        var options = HTTPServer.Options()
        options.host = "127.0.0.1"
        options.port = 0
        options.execution = .eventLoop
        options.eventLoops = 2
        options.errorResponder = assembly.protocolErrorResponder
        server = HTTPServer(handler: service, options: options)
        port = try server.start()
    }

    public func stop() { server.stop() }

    deinit { server.stop() }
}

/// What one side answered, or why it did not.
public enum Outcome: Sendable, Equatable {
    case response(HTTPResponse)
    case failed(String)

    public var response: HTTPResponse? { if case .response(let r) = self { return r }; return nil }
}

/// Keep-alive connections to one server, one per source address.
final class Endpoint {
    let host: String
    let port: Int
    var timeout: Double
    private var connections: [String: RawHTTPConnection] = [:]

    init(host: String, port: Int, timeout: Double) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// Sends `request` from `source` (nil: the system's choice) and reads the answer. A kept
    /// connection the server has closed in the meantime is replaced once.
    func exchange(_ request: FuzzRequest, source: String?) -> Outcome {
        let key = source ?? ""
        for attempt in 0..<2 {
            let connection: RawHTTPConnection
            var fresh = false
            if let kept = connections[key] {
                connection = kept
            } else {
                do { connection = try RawHTTPConnection(host: host, port: port, sourceAddress: source, timeout: timeout) } catch {
                    return .failed("\(error)")
                }
                connections[key] = connection
                fresh = true
            }
            do {
                try connection.send(request.httpRequest, framing: request.framing)
                let response = try connection.readResponse()
                if response.headers["Connection"]?.lowercased() == "close" || connection.stoppedSendingEarly {
                    connection.close()
                    connections[key] = nil
                }
                return .response(response)
            } catch {
                connection.close()
                connections[key] = nil
                if fresh || attempt == 1 { return .failed("\(error)") }
            }
        }
        return .failed("no answer")
    }

    func closeAll() {
        for c in connections.values { c.close() }
        connections = [:]
    }
}
