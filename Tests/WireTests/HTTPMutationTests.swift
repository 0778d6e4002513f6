import Testing
import TestSupport
import Wire

/// Requests mutated at random (seeded, so a failure replays) sent over real sockets: whatever
/// the bytes, the server answers with one of the statuses it documents or closes without an
/// answer, closes the connection once the client has nothing more to send, and keeps serving.
/// The hand-written corpus in `MalformedRequestTests` names the cases we thought of; this finds
/// the ones we did not.
@Suite struct HTTPMutationTests {
    /// Valid requests the mutations start from: each framing the parser knows.
    static let seeds: [String] = [
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://x/healthz?q=1 HTTP/1.1\r\nHost: x\r\nX-A: b\r\nAccept: */*\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
        "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ]

    /// Bytes that matter to HTTP/1.1 framing, more likely to make a mutation interesting than
    /// a uniformly random byte.
    static let framingBytes: [UInt8] = Array("\r\n :\t;=\"019af-,".utf8) + [0x00, 0x7F, 0x80, 0xFF]

    /// Everything `TestHandler` and the server's protocol errors can answer here (503 needs
    /// the server to be out of capacity; 408 a client that stalls, which these do not).
    static let documentedStatuses: Set<Int> = [100, 200, 400, 404, 413, 414, 417, 431, 501, 505]

    @Test(arguments: [HTTPServer.Execution.eventLoop, .workerThreads])
    func mutatedRequestsGetADocumentedAnswerAndTheServerStaysUp(execution: HTTPServer.Execution) throws {
        let seed: UInt64 = execution == .eventLoop ? 0x6d63_7365_6301 : 0x6d63_7365_6302
        var random = SplitMix64(seed: seed)
        // How the 600 cases ended: the loop must really have exchanged requests, and mutations
        // must produce both accepted and refused requests, or the statuses checked say little.
        var answered = 0, successes = 0, refusals = 0
        try withServer(TestHandler(limit: 64), configure: { $0.execution = execution }) { port in
            for index in 0..<600 {
                let input = ByteMutation.mutate(Array(Self.seeds[index % Self.seeds.count].utf8), alphabet: Self.framingBytes,
                                                maximumEdits: 4, using: &random)
                let name = "seed \(seed) case \(index): \(ByteMutation.shown(input))"
                let connection = try RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 5)
                defer { connection.close() }
                try connection.sendRaw(input)
                // The request is all there is: every outcome must end in the server closing.
                connection.shutdownWrite()
                var statuses: [Int] = []
                // A HEAD made by a mutation would be framed without a body; none of the seeds
                // is one byte away from it, but a raw reader cannot know, so stop reading there.
                let mayBeHEAD = ByteMutation.shown(input).contains("HEAD")
                while !mayBeHEAD, let response = try? connection.readResponse() {
                    statuses.append(response.status)
                }
                if !statuses.isEmpty { answered += 1 }
                if statuses.contains(where: { (200...299).contains($0) }) { successes += 1 }
                if statuses.contains(where: { $0 >= 400 }) { refusals += 1 }
                statuses += connection.informational.map(\.status)
                let undocumented = statuses.filter { !Self.documentedStatuses.contains($0) }
                #expect(undocumented.isEmpty, "undocumented statuses \(undocumented) for \(name)")
                #expect(connection.waitForClose(within: 5), "the server did not close the connection: \(name)")
                if index % 100 == 99 {
                    let probe = try RawHTTPConnection(host: "127.0.0.1", port: port)
                    try probe.send(HTTPRequest(method: "GET", target: "/healthz"))
                    #expect(try probe.readResponse().status == 200, "after \(name)")
                }
            }
        }
        print("mutated requests (\(execution)): \(answered) of 600 answered, \(successes) with a 2xx, \(refusals) with a 4xx or 5xx")
        #expect(answered >= 400 && successes >= 50 && refusals >= 300,
                "\(answered) of 600 answered, \(successes) with a 2xx, \(refusals) with a 4xx or 5xx")
    }
}
