import Foundation
import Testing
import Wire

/// The event backends: how one is chosen, and the server's behaviour on each one this system
/// has. (scripts/test also runs the HTTP suites a second time with `MCSEC_EVENT_BACKEND=poll`.)
@Suite struct EventBackendTests {
    @Test func unsetOrEmptyMeansThePlatformDefault() throws {
        #expect(try EventBackend(environment: [:]) == EventBackend.platformDefault)
        #expect(try EventBackend(environment: ["MCSEC_EVENT_BACKEND": ""]) == EventBackend.platformDefault)
        #if os(Linux)
        #expect(EventBackend.platformDefault == .epoll)
        #endif
    }

    @Test(arguments: EventBackend.available)
    func namedBackendIsChosen(backend: EventBackend) throws {
        #expect(try EventBackend(environment: ["MCSEC_EVENT_BACKEND": backend.rawValue]) == backend)
        #expect(try EventBackend(environment: ["MCSEC_EVENT_BACKEND": backend.rawValue.uppercased()]) == backend)
    }

    @Test(arguments: ["kqueue", "select", "epoll,poll", " poll"])
    func unknownBackendIsAClearError(value: String) {
        do {
            let backend = try EventBackend(environment: ["MCSEC_EVENT_BACKEND": value])
            Issue.record("\(value) was accepted as \(backend)")
        } catch {
            let message = "\(error)"
            #expect(message.contains("MCSEC_EVENT_BACKEND=\(value)"))
            #expect(message.contains("poll"), "the message names a backend that works: \(message)")
        }
    }

    /// The backend a server uses when its options leave it open is the one the environment
    /// names, so a run of the suites under `MCSEC_EVENT_BACKEND=poll` really exercises poll.
    @Test func serverWithoutAChoiceFollowsTheEnvironment() throws {
        let expected = try EventBackend.fromProcessEnvironment()
        let server = HTTPServer(handler: TestHandler())
        #expect(server.eventBackend == nil)
        try server.start()
        defer { server.stop() }
        #expect(server.eventBackend == expected)
    }

    @Test(arguments: EventBackend.available, [HTTPServer.Execution.eventLoop, .workerThreads])
    func servesOnEveryBackend(backend: EventBackend, execution: HTTPServer.Execution) throws {
        try withServer(configure: {
            $0.eventBackend = backend
            $0.execution = execution
            $0.eventLoops = 2
        }) { port in
            // Several keep-alive connections at once, spread over both loops.
            let connections = try (0..<6).map { _ in try RawHTTPConnection(host: "127.0.0.1", port: port) }
            for round in 0..<3 {
                for connection in connections {
                    try connection.send(HTTPRequest(method: "POST", target: "/echo", body: .bytes(Array("r\(round)".utf8))))
                }
                for connection in connections {
                    #expect(try connection.readResponse().bodyText == "r\(round)")
                }
            }
            // A response larger than the socket buffer: the loop waits for room to write.
            try connections[0].send(HTTPRequest(method: "GET", target: "/big"))
            #expect(try connections[0].readResponse().body.count == 8 << 20)
            // Closed connections leave the loop's watch list; new ones (often reusing their
            // descriptor numbers) are served.
            for connection in connections { connection.close() }
            for _ in 0..<20 {
                let fresh = try RawHTTPConnection(host: "127.0.0.1", port: port)
                try fresh.send(HTTPRequest(method: "GET", target: "/healthz", headers: ["Connection": "close"]))
                #expect(try fresh.readResponse().bodyText == "ok")
                #expect(fresh.waitForClose(within: 5))
            }
        }
    }

    @Test(arguments: EventBackend.available)
    func idleConnectionsAreClosedAndStopIsPrompt(backend: EventBackend) throws {
        var options = HTTPServer.Options()
        options.eventBackend = backend
        options.timeouts.idle = 0.2
        let server = HTTPServer(handler: TestHandler(), options: options)
        let port = try server.start()
        #expect(server.eventBackend == backend)
        let idle = try RawHTTPConnection(host: "127.0.0.1", port: port)
        #expect(idle.waitForClose(within: 5), "the sweep closes an idle connection")
        let busy = try RawHTTPConnection(host: "127.0.0.1", port: port)
        try busy.send(HTTPRequest(method: "GET", target: "/healthz"))
        #expect(try busy.readResponse().status == 200)
        // stop() wakes every loop, which must then end even though a connection is open.
        server.stop()
        #expect(server.eventBackend == nil)
        #expect(busy.waitForClose(within: 5))
    }
}
