#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Reference
import Synchronization
import Wire

/// `mcsec serve`: the reference service over HTTP/1.1 on a real socket.
///
/// Configuration is the process environment with `--env KEY=VALUE` laid over it, parsed once by
/// `Configuration.parse` (a bad value exits 2 naming the variable). The client address the
/// service sees is the socket's peer; the service applies the trusted-proxy rule to it.
/// Prints `listening on http://HOST:PORT` once ready; SIGINT/SIGTERM stop it gracefully (exit 0).
enum ServeCommand {
    static let help = CommandHelp(
        path: "serve",
        about: """
        Serves the reference service over HTTP/1.1. Prints 'listening on http://HOST:PORT' when
        ready (with --port 0, the port the system chose). SIGINT or SIGTERM stops it (exit 0).
        Without --port it listens on 8000; use --port 0 when another service may own that port.
        """,
        options: [
            .valued("host", "H", "address to bind (default 127.0.0.1)"),
            .valued("port", "P", "port to bind, 0 for any free port (default 8000)"),
            .valued("world", "FILE", "the world (organizations, boards, webhooks, agents, users) as JSON (default: the bundled Fixtures/world.json)", kind: .inputFile),
            .valued("env", "KEY=VALUE", "configuration variable, overriding the environment (repeatable): " + Configuration.variables.joined(separator: ", ") + "; an unknown KEY is warned about"),
            .valued("workers", "N", "serve as N worker processes would (default 1): each worker has its own service and, with the memory backend, its own limiter; connections go to the workers in turn and stay on the one that took them"),
            .valued("mutation", "NAME", "serve a deliberately broken variant (repeatable; names as in 'mcsec check --mutation list'), to see a checker catch it"),
            .valued("log-format", "F", "one line per request on stderr: text (default) or json"),
            .flag("exit-with-stdin", "stop when standard input ends: a program that starts this server with a pipe as its input stops it by ending, however it ends"),
        ],
        footer: "Exit status: 0 stopped by SIGINT or SIGTERM; 2 bad options or configuration, a port that cannot be bound, or a Redis backend that cannot be reached at start-up.")

    static func run(_ arguments: Arguments) throws -> Int32 {
        try arguments.noPositionals()
        let host = arguments.value("host") ?? "127.0.0.1"
        let port = try arguments.int("port", default: 8000, range: 0...65_535) ?? 8000
        let workers = try arguments.int("workers", default: 1, range: 1...64) ?? 1
        var mutations = ReferenceMutations()
        for name in arguments.values("mutation") {
            guard let m = ReferenceMutations(name: name) else {
                throw UsageError("unknown --mutation '\(name)'; known: " + ReferenceMutations.named.map(\.name).joined(separator: ", "))
            }
            mutations.formUnion(m)
        }
        let format: AccessLogFormat
        switch arguments.value("log-format") ?? "text" {
        case "text": format = .text
        case "json": format = .json
        case let other: throw UsageError("--log-format must be text or json, got '\(other)'")
        }

        var environment = ProcessInfo.processInfo.environment
        let assignments = try EnvironmentAssignments.parse(arguments.values("env"), warn: EnvironmentAssignments.stderrWarning("serve"))
        environment.merge(assignments) { _, given in given }
        let world: World
        do {
            if let path = arguments.value("world") {
                world = try World.load(from: URL(fileURLWithPath: path))
            } else {
                world = try World.bundled()
            }
        } catch {
            throw UsageError("cannot load the world\(arguments.value("world").map { " from \($0)" } ?? ""): \(error)")
        }

        // Block the stop signals before any server thread exists, so every thread inherits the
        // mask and the main thread alone receives them through sigwait.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        let sink = StderrLineSink()
        defer { sink.close() }
        let log = ServiceLog(echo: { line in sink.write(format.serviceLine(line)) })
        let assembly: ReferenceAssembly
        do {
            assembly = try ReferenceAssembly(environment: environment, world: world, mutations: mutations, workers: workers, log: log)
        } catch {
            switch error {
            case .configuration(let problem): throw UsageError("configuration: \(problem)")
            // Unreachable at start-up is an input problem (status 2), like an unreachable target.
            case .store(let problem): throw UsageError("\(problem)")
            }
        }
        let configuration = assembly.configuration
        let service = assembly.service
        if !mutations.isEmpty {
            FileHandle.standardError.write(Data("mcsec serve: serving a deliberately broken reference (\(mutations))\n".utf8))
        }

        var options = HTTPServer.Options()
        options.host = host
        options.port = port
        // The in-memory limiter never blocks, so complete requests run on the event loops (the
        // fast path); a Redis-backed one waits on the network, so requests go to workers.
        options.execution = configuration.rateLimitBackend == .memory ? .eventLoop : .workerThreads
        // Errors the HTTP layer answers itself (malformed requests, timeouts) carry the
        // service's error shape, request id and security headers like every other response.
        options.errorResponder = assembly.protocolErrorResponder
        options.accessLog = { record in sink.write { format.appendAccessLine(record, to: &$0) } }
        options.eventLog = { line in sink.write(format.serviceLine(line)) }

        let server = HTTPServer(handler: service, options: options)
        let bound: Int
        do {
            bound = try server.start()
        } catch {
            throw UsageError("cannot listen on \(host):\(port): \(error)")
        }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        FileHandle.standardOutput.write(Data("listening on http://\(shownHost):\(bound)\n".utf8))

        if arguments.flag("exit-with-stdin") {
            // The watchdog: the starting program holds the other end of our standard input;
            // when it ends (even killed outright) the pipe closes and we stop as on SIGTERM.
            let watchdog = Thread {
                var byte: UInt8 = 0
                while true {
                    let n = read(0, &byte, 1)
                    if n > 0 || (n < 0 && errno == EINTR) { continue }
                    kill(getpid(), SIGTERM)
                    return
                }
            }
            watchdog.start()
        }
        var received: Int32 = 0
        while sigwait(&stopSignals, &received) != 0 {}
        server.stop()
        return 0
    }
}

/// The format of access-log and service-log lines on stderr.
enum AccessLogFormat {
    case text
    case json

    func accessLine(_ record: HTTPServer.AccessRecord) -> String {
        let micros = Int((record.duration * 1_000_000).rounded())
        let fraction = micros % 1000
        let milliseconds = "\(micros / 1000).\(fraction < 10 ? "00" : fraction < 100 ? "0" : "")\(fraction)"
        switch self {
        case .text:
            return "access method=\(record.method) target=\(record.target) status=\(record.status) bytes=\(record.bytes) duration_ms=\(milliseconds) client=\(record.client)"
        case .json:
            return "{\"event\":\"access\",\"method\":\(JSONText.quote(record.method)),\"target\":\(JSONText.quote(record.target)),\"status\":\(record.status),\"bytes\":\(record.bytes),\"duration_ms\":\(milliseconds),\"client\":\(JSONText.quote(record.client))}"
        }
    }

    /// `accessLine(record)` and a newline, appended to `out`. The text form is written as bytes
    /// without building a String: the server writes one per request.
    func appendAccessLine(_ record: HTTPServer.AccessRecord, to out: inout [UInt8]) {
        let micros = Int((record.duration * 1_000_000).rounded())
        guard case .text = self, micros >= 0, record.status >= 0, record.bytes >= 0 else {
            out.append(contentsOf: accessLine(record).utf8)
            out.append(10)
            return
        }
        out.append(contentsOf: "access method=".utf8)
        out.append(contentsOf: record.method.utf8)
        out.append(contentsOf: " target=".utf8)
        out.append(contentsOf: record.target.utf8)
        out.append(contentsOf: " status=".utf8)
        ASCIIDecimal.append(record.status, to: &out)
        out.append(contentsOf: " bytes=".utf8)
        ASCIIDecimal.append(record.bytes, to: &out)
        out.append(contentsOf: " duration_ms=".utf8)
        ASCIIDecimal.append(micros / 1000, to: &out)
        out.append(UInt8(ascii: "."))
        let fraction = micros % 1000
        out.append(UInt8(48 + fraction / 100))
        out.append(UInt8(48 + fraction / 10 % 10))
        out.append(UInt8(48 + fraction % 10))
        out.append(contentsOf: " client=".utf8)
        out.append(contentsOf: record.client.utf8)
        out.append(10)
    }

    func serviceLine(_ line: String) -> String {
        switch self {
        case .text: return line
        case .json: return "{\"event\":\"service\",\"line\":\(JSONText.quote(line))}"
        }
    }
}

/// Lines for stderr, batched: under load a write per request would cost more than the request.
/// A background thread flushes every 50 ms; a full batch is flushed by the writer.
final class StderrLineSink: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        /// The previous batch's buffer, emptied, to take the next batch: a fresh one each time
        /// would fault its pages in again.
        var spare: [UInt8] = []
        var closed = false
    }

    private let state = Mutex(State())

    init() {
        let thread = Thread { [weak self] in
            while let sink = self, !sink.isClosed {
                sink.flush()
                usleep(50_000)
            }
        }
        thread.start()
    }

    private var isClosed: Bool { state.withLock { $0.closed } }

    func write(_ line: String) {
        write { buffer in
            buffer.append(contentsOf: line.utf8)
            buffer.append(10)
        }
    }

    /// Lets `append` add one or more whole lines (each ending in a newline) to the batch.
    func write(_ append: (inout [UInt8]) -> Void) {
        let full = state.withLock { state -> Bool in
            append(&state.buffer)
            return state.buffer.count >= 64 * 1024
        }
        if full { flush() }
    }

    func flush() {
        var bytes = state.withLock { state -> [UInt8] in
            guard !state.buffer.isEmpty else { return [] }
            var batch: [UInt8] = []
            swap(&batch, &state.spare)
            swap(&batch, &state.buffer)
            return batch
        }
        guard !bytes.isEmpty else { return }
        defer {
            bytes.removeAll(keepingCapacity: true)
            state.withLock { state in
                if bytes.capacity > state.spare.capacity { swap(&bytes, &state.spare) }
            }
        }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Platform.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }

    func close() {
        state.withLock { $0.closed = true }
        flush()
    }
}
