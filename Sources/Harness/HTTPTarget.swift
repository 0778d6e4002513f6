import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TargetFiles
import Wire

/// A live server named by URL. `http://` goes through the raw client (any framing, chosen
/// source addresses); `https://` through URLSession (framing that needs raw sockets is skipped
/// with a reason; chunked bodies are sent from a body stream).
public final class HTTPTarget: Target, @unchecked Sendable {
    public enum Client: Sendable { case raw, urlSession }

    /// The URL cannot be used as a target.
    public struct BadURL: Error, CustomStringConvertible {
        public var description: String
    }

    public let name: String
    public let targetFile: TargetFile
    public let scheme: String
    public let host: String
    public let port: Int
    /// A path prefix of the base URL (`https://host/prefix`), prepended to every request path.
    public let basePath: String
    public let client: Client
    /// Seconds of no progress before a request is given up.
    public let timeout: Double
    private let pool: SourceAddressPool
    /// The deployment's log, when the target file says where it is (`logs`): log checks run.
    public let log: LiveLog?

    /// How an https:// server's certificate is checked (`--cacert`, `tls.caFile`, `--insecure`).
    public let tls: TLSOptions

    public init(baseURL: String, targetFile: TargetFile, client: Client = .raw, name: String? = nil,
                sourceAddresses: SourceAddressPool? = nil, timeout: Double = 10, tls: TLSOptions? = nil) throws {
        guard let url = URL(string: baseURL), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty else {
            throw BadURL(description: "'\(baseURL)' is not an http:// or https:// URL with a host")
        }
        if url.query != nil || url.fragment != nil {
            throw BadURL(description: "'\(baseURL)': the target URL must not have a query or fragment")
        }
        self.scheme = scheme
        self.host = host
        self.port = url.port ?? (scheme == "https" ? 443 : 80)
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
        self.targetFile = targetFile
        // https: the raw client over a TLS tunnel (openssl), unless URLSession is asked for.
        self.client = client
        self.tls = tls ?? TLSOptions(caFile: targetFile.tlsCAFile)
        self.name = name ?? baseURL
        self.timeout = timeout
        log = try targetFile.logs.map { try LiveLog(source: $0) }
        if let sourceAddresses {
            pool = sourceAddresses
        } else if self.client == .raw && scheme == "http" {
            pool = .fixed(targetFile.sourceAddresses.isEmpty ? [nil] : targetFile.sourceAddresses.map { Optional($0) })
        } else {
            pool = .fixed([nil])
        }
    }

    public var capabilities: TargetCapabilities {
        var caps = TargetCapabilities(inProcess: false, instantClock: false, rawFraming: client == .raw, sourceAddresses: pool,
                                      configOverrides: false, freshStatePerFixture: false, startup: false, serviceLog: log != nil)
        caps.halfClose = scheme == "http"
        return caps
    }

    /// One TCP connection to the server: an unreachable target is one clear error before the
    /// run, not a failure per fixture.
    public func probe() throws {
        do {
            let c = try RawHTTPConnection(host: host, port: port, timeout: min(timeout, 5))
            c.close()
        } catch {
            throw TargetUnreachable("\(scheme)://\(host):\(port): \(error)")
        }
        // For https, the handshake and the certificate too: a certificate the run cannot
        // trust is one error before the run, not a failure per fixture.
        if scheme == "https", client == .raw, let problem = TLSTunnel.probe(host: host, port: port, tls: tls, timeout: min(timeout, 10)) {
            let advice = problem.hasPrefix("certificate not trusted")
                ? "; pass --cacert FILE (a PEM bundle with the authority that signed the server's certificate; tls.caFile in the target file) or, to check without trusting it, --insecure"
                : ""
            throw TargetUnreachable("\(scheme)://\(host):\(port): \(problem)\(advice)")
        }
    }

    /// Opens a connection to the server: a socket for http, a TLS tunnel for https.
    func connect(source: String?) throws -> (RawHTTPConnection, TLSTunnel?) {
        if scheme == "https" {
            let (connection, tunnel) = try TLSTunnel.connect(host: host, port: port, tls: tls, timeout: timeout)
            return (connection, tunnel)
        }
        return (try RawHTTPConnection(host: host, port: port, sourceAddress: source, timeout: timeout), nil)
    }

    public func session(environment: [String: String], storeUnavailable: Bool) throws -> any TargetSession {
        if storeUnavailable { throw SkipFixture("needs a Redis outage injected into the limiter, which only the in-process reference allows") }
        return HTTPSession(target: self)
    }

    public func startup(environment: [String: String]) throws -> StartupOutcome {
        throw SkipFixture("start-up can only be observed on a server mcsec starts itself")
    }

    public func close() {}

    /// A request-target with the base URL's path prefix.
    func prefixed(_ requestTarget: String) -> String { basePath + requestTarget }
}

/// Connections of one fixture to an HTTP target, one per source address, kept alive.
public final class HTTPSession: TargetSession {
    let target: HTTPTarget
    private var connections: [String: RawHTTPConnection] = [:]
    private var tunnels: [String: TLSTunnel] = [:]
    /// For a server the run started: why it cannot be reached when it has exited (then the
    /// request that preceded is the finding, and the run goes on with a new server).
    let exitReason: (() -> String?)?

    public init(target: HTTPTarget, exitReason: (() -> String?)? = nil) {
        self.target = target
        self.exitReason = exitReason
    }

    public func send(_ outgoing: OutgoingRequest) throws -> HTTPResponse {
        switch target.client {
        case .raw: return try sendRaw(outgoing)
        case .urlSession: return try URLSessionClient.send(outgoing, target: target)
        }
    }

    private func sendRaw(_ outgoing: OutgoingRequest) throws -> HTTPResponse {
        let key = outgoing.source ?? ""
        // The only change on the way to the socket: the base URL's path prefix, and the Host
        // of the server (a TLS tunnel's local end is not it).
        var request = outgoing.request
        request.target = target.prefixed(request.target)
        if !request.headers.contains("Host") {
            request.headers.append("Host", target.port == 80 ? target.host : "\(target.host):\(target.port)")
        }
        if outgoing.freshConnection, let old = connections.removeValue(forKey: key) {
            old.close()
            tunnels.removeValue(forKey: key)?.close()
        }
        // A kept-alive connection may have been closed by the server since its last use; then
        // the request is sent again once on a new connection (nothing was answered, so it was
        // not processed).
        for attempt in 0..<2 {
            let reused = connections[key] != nil
            let connection: RawHTTPConnection
            if let c = connections[key] {
                connection = c
            } else {
                do {
                    let (opened, tunnel) = try target.connect(source: outgoing.source)
                    connection = opened
                    tunnels[key] = tunnel
                } catch {
                    if let reason = exitReason?() { throw HTTPClientError(reason) }
                    throw TargetUnreachable("\(target.scheme)://\(target.host):\(target.port)\(outgoing.source.map { " from \($0)" } ?? ""): \(error)")
                }
                connections[key] = connection
            }
            var sendError: Error? = nil
            do { try connection.send(request, framing: outgoing.framing) } catch { sendError = error }
            do {
                // Even when the upload failed (the server answered early and closed), the
                // answer may be waiting.
                let response = try connection.readResponse()
                if let connectionHeader = response.headers["Connection"], connectionHeader.lowercased().contains("close") {
                    connection.close()
                    connections[key] = nil
                } else if sendError != nil || connection.stoppedSendingEarly {
                    connection.close()
                    connections[key] = nil
                }
                return response
            } catch {
                connection.close()
                connections[key] = nil
                if let tunnel = tunnels.removeValue(forKey: key) {
                    // Why openssl ended, read before ending it ourselves (which would make any
                    // tunnel look failed).
                    let failure = tunnel.failure
                    tunnel.close()
                    if let failure { throw HTTPClientError("TLS: \(failure)") }
                }
                if let reason = exitReason?() { throw HTTPClientError("no response: \(reason)") }
                if reused && attempt == 0 { continue }
                throw HTTPClientError("no response: \(sendError.map { "\($0); " } ?? "")\(error)")
            }
        }
        throw HTTPClientError("no response")
    }

    public func advance(by seconds: Double) throws {
        // The server's clock is real: only a real wait moves it (the runner asks only with --allow-waits).
        Thread.sleep(forTimeInterval: seconds)
    }

    public func logLines() -> [String] { target.log?.windowLinesSinceClear() ?? [] }
    public func clearLog() { target.log?.clear() }

    public func close() {
        for c in connections.values { c.close() }
        connections = [:]
        for t in tunnels.values { t.close() }
        tunnels = [:]
    }
}

/// Requests through URLSession (https), synchronously.
enum URLSessionClient {
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        return URLSession(configuration: configuration)
    }()

    /// Headers URLSession manages itself; setting them is ignored or refused.
    static let managed: Set<String> = ["host", "content-length", "transfer-encoding", "connection"]

    final class Box: @unchecked Sendable {
        let lock = Lock()
        var result: Result<HTTPResponse, Error>? = nil
    }

    static func send(_ outgoing: OutgoingRequest, target: HTTPTarget) throws -> HTTPResponse {
        let text = "\(target.scheme)://\(target.host):\(target.port)\(target.prefixed(outgoing.request.target))"
        guard let url = URL(string: text) else { throw HTTPClientError("cannot form a URL from \(text)") }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: target.timeout)
        request.httpMethod = outgoing.request.method
        for field in outgoing.request.headers where !managed.contains(field.name.lowercased()) {
            request.addValue(field.value, forHTTPHeaderField: field.name)
        }
        switch outgoing.framing {
        case .chunked:
            // A body stream has no length: URLSession sends it chunked.
            request.httpBodyStream = InputStream(data: Data(outgoing.body))
        default:
            let body = outgoing.body
            if !body.isEmpty { request.httpBody = Data(body) }
        }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            let result: Result<HTTPResponse, Error>
            if let error {
                result = .failure(error)
            } else if let http = response as? HTTPURLResponse {
                var headers = HTTPFields()
                for (name, value) in http.allHeaderFields {
                    headers.append(String(describing: name), String(describing: value))
                }
                result = .success(HTTPResponse(status: http.statusCode, headers: headers, body: Array(data ?? Data())))
            } else {
                result = .failure(HTTPClientError("no HTTP response"))
            }
            box.lock.withLock { box.result = result }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + target.timeout + 5) == .timedOut {
            task.cancel()
            throw HTTPClientError("no response within \(Int(target.timeout)) s")
        }
        switch box.lock.withLock({ box.result }) {
        case .success(let response)?: return response
        case .failure(let error)?:
            if let e = error as? URLError, [.cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet].contains(e.code) {
                throw TargetUnreachable("\(text): \(e.localizedDescription)")
            }
            throw HTTPClientError("\(error.localizedDescription)")
        case nil: throw HTTPClientError("no response")
        }
    }
}
