import Foundation
import Testing
import Wire
@testable import Simulator

/// What a profile read gives: its events, with the ids the clients and proxy headers got.
struct ReadEvents: Equatable {
    var events: [ProfileEvent] = []
    var clientIDs: [Int32] = []
    var proxyIDs: [Int32] = []
    var clients: [String] = []
    var proxyHeaders: [ProxyHeader] = []

    init() {}

    init(_ profile: Profile) {
        append(profile)
        clients = profile.clients
        proxyHeaders = profile.proxyHeaders
    }

    mutating func append(_ chunk: Profile) {
        events += (0..<chunk.count).map { chunk[$0] }
        clientIDs += chunk.clientIDs
        proxyIDs += chunk.proxyIDs.isEmpty ? [Int32](repeating: -1, count: chunk.count) : chunk.proxyIDs
    }
}

/// A read's result: its events, or the error it stopped with (its type and text).
enum ReadOutcome: Equatable {
    case events(ReadEvents)
    case failure(InputError)
    case other(String)

    init(_ body: () throws -> ReadEvents) {
        do {
            self = .events(try body())
        } catch let error as InputError {
            self = .failure(error)
        } catch {
            self = .other("\(type(of: error)): \(error)")
        }
    }
}

@Suite("Profile files streamed in blocks: the whole-file reader's events, ids and errors")
struct ProfileFileEventsTests {
    /// Reads `path` whole, as `simulate` does in memory.
    static func whole(_ path: String) -> ReadOutcome {
        ReadOutcome { ReadEvents(try ProfileReader.read(path: path)) }
    }

    /// Streams `path` in blocks of `blockSize` bytes and chunks of `chunkSize` events, checking
    /// that every chunk is bounded by those.
    static func streamed(_ path: String, blockSize: Int, chunkSize: Int) -> ReadOutcome {
        ReadOutcome {
            let source = try ProfileFileEvents(path: path, blockSize: blockSize)
            source.chunkSize = chunkSize
            var chunk = Profile()
            var read = ReadEvents()
            while try source.next(into: &chunk) {
                #expect(chunk.count >= 1)
                // A chunk stops with the block in which it reached chunkSize; a line (with its
                // terminator) takes at least one byte of that block.
                #expect(chunk.count < chunkSize + blockSize)
                read.append(chunk)
            }
            read.clients = chunk.clients
            read.proxyHeaders = chunk.proxyHeaders
            return read
        }
    }

    static let sizes: [(block: Int, chunk: Int)] = [(1, 1), (7, 3), (64, 5), (1000, 100), (1 << 20, 1 << 16)]

    /// Writes `text` and checks that every block and chunk size streams what the whole read gives.
    static func expectSameRead(_ text: String, name: String, sizes: [(block: Int, chunk: Int)] = sizes,
                               sourceLocation: SourceLocation = #_sourceLocation) throws -> ReadOutcome {
        let path = try writeFile(text, name: name, in: try temporaryDirectory())
        let expected = whole(path)
        for size in sizes {
            #expect(streamed(path, blockSize: size.block, chunkSize: size.chunk) == expected,
                    "blocks of \(size.block), chunks of \(size.chunk)", sourceLocation: sourceLocation)
        }
        return expected
    }

    /// A profile file in `format` whose lines vary in every way the format allows (field and
    /// column order, escapes, quoting, spacing, blank lines, CRLF, proxy headers), so that both
    /// the fast path and the careful path of the parser are taken.
    static func variedFile(_ profile: Profile, format: ProfileFormat) -> String {
        var lines: [String] = []
        if format == .csv { lines.append("client,t,endpoint,signature,body_bytes,proxy_header_name,proxy_header_value") }
        for i in 0..<profile.count {
            let e = profile[i]
            let t = ProfileRules.formatTime(e.time)
            let proxy = i % 5 == 0 ? ProxyHeader(name: "X-Forwarded-For", value: "198.51.100.\(i % 7), 10.0.0.\(i % 3)") : nil
            switch format {
            case .jsonl:
                switch i % 4 {
                case 0:
                    let header = proxy.map { #"{"name":"\#($0.name)","value":"\#($0.value)"}"# } ?? "null"
                    lines.append(#"{"t":\#(t),"client":"\#(e.client)","endpoint":"\#(e.endpoint)","body_bytes":\#(e.bodyBytes),"signature":"\#(e.signature)","proxy_header":\#(header)}"#)
                case 1:
                    // An escaped character sends the line down the careful path.
                    let client = e.client.replacingOccurrences(of: "1", with: "\\u0031")
                    lines.append(#" { "signature" : "\#(e.signature)", "body_bytes": \#(e.bodyBytes), "endpoint":"\#(e.endpoint)", "client":"\#(client)", "t": \#(t) } "#)
                case 2:
                    lines.append(#"{"t":\#(t),"client":"\#(e.client)","endpoint":"\#(e.endpoint)","body_bytes":\#(e.bodyBytes),"signature":"\#(e.signature)"}"# + "\r")
                default:
                    lines.append(#"{"t":\#(t),"client":"\#(e.client)","endpoint":"\#(e.endpoint)","body_bytes":\#(e.bodyBytes),"signature":"\#(e.signature)"}"#)
                    lines.append("   ")
                }
            case .csv:
                let name = proxy?.name ?? "", value = proxy.map { CSVLine.quoted($0.value) } ?? ""
                switch i % 3 {
                case 0: lines.append("\(e.client),\(t),\(e.endpoint),\(e.signature),\(e.bodyBytes),\(name),\(value)")
                case 1: lines.append("\"\(e.client)\",\(t),\"\(e.endpoint)\",\(e.signature),\(e.bodyBytes),\(name),\(value)\r")
                default:
                    lines.append("\(e.client),\(t),\(e.endpoint),\(e.signature),\(e.bodyBytes),,")
                    lines.append("")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("generated files stream as the whole-file reader reads them: events, client and proxy header ids", arguments: 0..<DeterminismTests.specs.count)
    func generatedFiles(index: Int) throws {
        for format in ProfileFormat.allCases {
            let text = String(decoding: try generatedBytes(DeterminismTests.specs[index], format: format), as: UTF8.self)
            let outcome = try ProfileFileEventsTests.expectSameRead(text, name: "p.\(format.rawValue)")
            guard case .events(let read) = outcome else {
                Issue.record("the generated file does not read: \(outcome)")
                continue
            }
            #expect(read.events.count > 100)
        }
    }

    @Test("files in every style the formats allow (careful path, CRLF, blank lines, proxy headers) stream as they read whole")
    func variedFiles() throws {
        let profile = try randomProfile(seed: 8, events: 400, clients: 25, duration: 90)
        for format in ProfileFormat.allCases {
            let outcome = try ProfileFileEventsTests.expectSameRead(ProfileFileEventsTests.variedFile(profile, format: format), name: "v.\(format.rawValue)")
            guard case .events(let read) = outcome else {
                Issue.record("the varied file does not read: \(outcome)")
                continue
            }
            #expect(read.events.count == profile.count)
            #expect(read.proxyHeaders.count > 1)
        }
    }

    @Test("every block boundary, even inside a line or between CR and LF, streams the same events")
    func everyBoundary() throws {
        let profile = try randomProfile(seed: 2, events: 12, clients: 4, duration: 5)
        for format in ProfileFormat.allCases {
            let text = ProfileFileEventsTests.variedFile(profile, format: format)
            let sizes = (1...(text.utf8.count + 1)).map { (block: $0, chunk: 2) }
            _ = try ProfileFileEventsTests.expectSameRead(text, name: "b.\(format.rawValue)", sizes: sizes)
        }
    }

    @Test("a second pass (restart) gives the same events and ids again")
    func restart() throws {
        let profile = try randomProfile(seed: 5, events: 300, clients: 9, duration: 60)
        let path = try writeFile(ProfileFileEventsTests.variedFile(profile, format: .csv), name: "r.csv", in: try temporaryDirectory())
        let source = try ProfileFileEvents(path: path, blockSize: 100)
        source.chunkSize = 10
        var passes: [ReadEvents] = []
        for _ in 0..<3 {
            try source.restart()
            var chunk = Profile()
            var read = ReadEvents()
            // A pass begins on a fresh chunk whatever it is given (ids from 0 again).
            chunk = try ProfileReader.read(path: path)
            while try source.next(into: &chunk) { read.append(chunk) }
            read.clients = chunk.clients
            read.proxyHeaders = chunk.proxyHeaders
            passes.append(read)
        }
        #expect(passes[0] == ReadEvents(try ProfileReader.read(path: path)))
        #expect(passes[1] == passes[0] && passes[2] == passes[0])
        let (events, duration) = try source.scan()
        #expect(events == profile.count && duration == profile.duration)
    }

    // MARK: bad input

    static let good = #"{"t":1,"client":"10.0.0.1","endpoint":"webhook","body_bytes":1,"signature":"valid"}"#

    /// `count` good JSON Lines events, at times 1, 2, …
    static func goodLines(_ count: Int) -> [String] {
        (1...count).map { #"{"t":\#($0),"client":"10.0.0.\#($0 % 5)","endpoint":"webhook","body_bytes":1,"signature":"valid"}"# }
    }

    @Test("every bad input of the whole-file reader's tests fails the same way streamed, at any block size", arguments: ProfileFormatTests.badCases)
    func badCases(_ c: ProfileFormatTests.BadCase) throws {
        let sizes = [1, 2, 5, 16, 50, 1 << 20].map { (block: $0, chunk: 1) }
        let outcome = try ProfileFileEventsTests.expectSameRead(c.text, name: c.file, sizes: sizes)
        guard case .failure(let error) = outcome else {
            Issue.record("expected an error, got \(outcome)")
            return
        }
        #expect(error.line == c.line)
    }

    @Test("a bad line in a later chunk: the chunks before it are delivered, then the same error as read whole")
    func badLineInLaterChunk() throws {
        let text = (ProfileFileEventsTests.goodLines(300) + [#"{"t":301,"client":"10.0.0.1","endpoint":"login","body_bytes":1,"signature":"valid"}"#]
            + ProfileFileEventsTests.goodLines(3).map { $0.replacingOccurrences(of: "\"t\":", with: "\"t\":40") }).joined(separator: "\n")
        let path = try writeFile(text, name: "late.jsonl", in: try temporaryDirectory())
        guard case .failure(let expected) = ProfileFileEventsTests.whole(path) else {
            Issue.record("the whole-file reader accepts the bad line")
            return
        }
        #expect(expected.line == 301 && expected.path == "endpoint")
        let source = try ProfileFileEvents(path: path, blockSize: 4096)
        source.chunkSize = 50
        var chunk = Profile()
        var delivered = 0
        do {
            while try source.next(into: &chunk) { delivered += chunk.count }
            Issue.record("streamed past the bad line")
        } catch let error as InputError {
            #expect(error == expected)
        }
        #expect(delivered >= 50 && delivered <= 300)
        // Nothing is read past the bad line.
        #expect(try source.next(into: &chunk) == false)
    }

    @Test("a bad line in a later chunk stops a streamed prediction with the reader's error, on one thread or pipelined")
    func badLineStopsThePrediction() throws {
        let text = (ProfileFileEventsTests.goodLines(300) + [#"{"t":301,"client":"10.0.0.1","endpoint":"login","body_bytes":1,"signature":"valid"}"#])
            .joined(separator: "\n")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeFile(text, name: "late.jsonl", in: dir)
        guard case .failure(let expected) = ProfileFileEventsTests.whole(path) else {
            Issue.record("the whole-file reader accepts the bad line")
            return
        }
        // Skewed clocks keep the prediction on one thread; the plain deployment runs pipelined.
        for deployment in [Deployment(workers: 2), Deployment(workers: 2, backend: .redis, skews: [0, 0.5])] {
            var source = try ProfileFileEvents(path: path, blockSize: 4096)
            source.chunkSize = 50
            do {
                _ = try StreamingSimulation.run(&source, deployment: deployment, statuses: { _ in })
                Issue.record("predicted past the bad line")
            } catch let error as InputError {
                #expect(error == expected)
            }
        }
    }

    @Test("a line split across the block boundary, good or bad, reads as when whole")
    func lineAcrossBoundary() throws {
        let lines = ProfileFileEventsTests.goodLines(3)
        let bad = #"{"t":9,"client":"10.0.0.1","endpoint":"webhook","body_bytes":-1,"signature":"valid"}"#
        let prefix = lines.joined(separator: "\n") + "\n"
        for tail in [ProfileFileEventsTests.good.replacingOccurrences(of: "\"t\":1", with: "\"t\":7"), bad] {
            let text = prefix + tail + "\n"
            // Boundaries at every byte of the last line.
            let sizes = (prefix.utf8.count...text.utf8.count).map { (block: $0, chunk: 1) }
                + (1...12).map { (block: (prefix.utf8.count + $0) / 2, chunk: 1) }
            let outcome = try ProfileFileEventsTests.expectSameRead(text, name: "split.jsonl", sizes: sizes)
            if tail == bad {
                guard case .failure(let error) = outcome else { Issue.record("expected an error"); continue }
                #expect(error.line == 4 && error.column == 62 && error.path == "body_bytes")
            }
        }
    }

    @Test("CRLF line ends: the same events, and the same columns in errors")
    func crlf() throws {
        let csv = "t,client,endpoint,body_bytes,signature\r\n0.5,10.0.0.1,webhook,1,valid\r\n0.75,10.0.0.2,agent_auth,0,missing\r\n"
        guard case .events(let read) = try ProfileFileEventsTests.expectSameRead(csv, name: "crlf.csv") else {
            Issue.record("CRLF CSV does not read")
            return
        }
        #expect(read.events.count == 2)
        let bad = csv + "1,10.0.0.3,webhook,1,forged\r\n"
        guard case .failure(let error) = try ProfileFileEventsTests.expectSameRead(bad, name: "crlf.csv") else {
            Issue.record("a bad CRLF row reads")
            return
        }
        #expect(error.line == 4 && error.column == 22 && error.path == "signature")
        let jsonl = ProfileFileEventsTests.goodLines(4).joined(separator: "\r\n") + "\r\n"
        guard case .events(let events) = try ProfileFileEventsTests.expectSameRead(jsonl, name: "crlf.jsonl") else {
            Issue.record("CRLF JSON Lines do not read")
            return
        }
        #expect(events.events.count == 4)
    }

    @Test("a last line without a newline (or with a lone CR) is read, as whole")
    func missingFinalNewline() throws {
        for ending in ["", "\r"] {
            let jsonl = ProfileFileEventsTests.goodLines(5).joined(separator: "\n") + ending
            guard case .events(let read) = try ProfileFileEventsTests.expectSameRead(jsonl, name: "end.jsonl") else {
                Issue.record("JSON Lines without a final newline do not read")
                continue
            }
            #expect(read.events.count == 5)
            let csv = "t,client,endpoint,body_bytes,signature\n1,10.0.0.1,webhook,1,valid\n2,10.0.0.1,webhook,1,bogus" + ending
            guard case .failure(let error) = try ProfileFileEventsTests.expectSameRead(csv, name: "end.csv") else {
                Issue.record("a bad last row reads")
                continue
            }
            #expect(error.line == 3 && error.path == "signature")
        }
    }

    @Test("an event out of time order in a later chunk is refused as read whole (naming both times)")
    func outOfOrder() throws {
        let lines = ProfileFileEventsTests.goodLines(200)
        // The fast path's order check, and the careful path's (an escape sends the line there).
        let late = [(120, #"{"t":12,"client":"10.0.0.1","endpoint":"webhook","body_bytes":1,"signature":"valid"}"#),
                    (170, #"{"client":"10.0.0.\u0031","t":169.999999,"endpoint":"webhook","body_bytes":1,"signature":"valid"}"#)]
        for (index, line) in late {
            var these = lines
            these[index] = line
            guard case .failure(let error) = try ProfileFileEventsTests.expectSameRead(these.joined(separator: "\n"), name: "order.jsonl") else {
                Issue.record("out of order events read")
                continue
            }
            #expect(error.line == index + 1 && error.path == "t")
            #expect(error.message.contains("time order"), "\(error)")
        }
    }

    @Test("empty files: an empty CSV file is the same error; empty JSON Lines, blank lines or a lone header give no events")
    func emptyFiles() throws {
        guard case .failure(let error) = try ProfileFileEventsTests.expectSameRead("", name: "empty.csv") else {
            Issue.record("an empty CSV file reads")
            return
        }
        #expect(error.message.contains("header row"))
        for (text, name) in [("", "empty.jsonl"), ("\n\n  \r\n", "blank.jsonl"), ("t,client,endpoint,body_bytes,signature\n\n", "header.csv")] {
            let outcome = try ProfileFileEventsTests.expectSameRead(text, name: name)
            #expect(outcome == .events(ReadEvents()), "\(name)")
        }
        let empty = try writeFile("", name: "none.jsonl", in: try temporaryDirectory())
        let scanned = try ProfileFileEvents(path: empty).scan()
        #expect(scanned.events == 0 && scanned.duration == 0)
    }

    @Test("a line over the length limit, a missing file and a folder are the same errors")
    func fileErrors() throws {
        let dir = try temporaryDirectory()
        // The limit is exact, whatever the block size and wherever the line falls in a block.
        let sizes = [(block: 1 << 12, chunk: 1), (block: 99_999, chunk: 1), (block: 1 << 20, chunk: 1), (block: 3 << 20, chunk: 1)]
        for (extra, ending) in [(0, "\n"), (0, "\r\n"), (1, "\n"), (1, "\r\n"), (1, ""), (10, "\n")] {
            let long = ProfileFileEventsTests.good + "\n" + String(repeating: " ", count: LineReader.maximumLineLength + extra) + ending
            let outcome = try ProfileFileEventsTests.expectSameRead(long, name: "long.jsonl", sizes: sizes)
            if extra == 0 {
                let one = ProfileFileEventsTests.whole(try writeFile(ProfileFileEventsTests.good, name: "one.jsonl", in: dir))
                #expect(outcome != .events(ReadEvents()) && outcome == one)
            } else {
                guard case .failure(let error) = outcome else {
                    Issue.record("a line of \(extra) bytes over the limit reads")
                    continue
                }
                #expect(error.line == 2 && error.message.contains("longer than"))
            }
        }
        for path in [(dir as NSString).appendingPathComponent("missing.jsonl"), dir] {
            let expected = ProfileFileEventsTests.whole(path)
            #expect(ProfileFileEventsTests.streamed(path, blockSize: 16, chunkSize: 1) == expected)
            guard case .other(let text) = expected else { Issue.record("\(path) reads"); continue }
            #expect(text.hasPrefix("FileError"))
        }
    }
}

@Suite("Simulation streamed from a profile file")
struct FileStreamingTests {
    @Test("the streamed reports and predictions.csv equal the in-memory ones byte for byte, both formats, every deployment")
    func streamedEqualsInMemory() throws {
        let profiles = [try randomProfile(seed: 11, events: 3000, clients: 20, duration: 300),
                        try ProfileGenerator.profile(spec: DeterminismTests.specs[0])]
        for profile in profiles {
            for format in ProfileFormat.allCases {
                let path = try writeFile(ProfileFileEventsTests.variedFile(profile, format: format), name: "p.\(format.rawValue)",
                                         in: try temporaryDirectory())
                let loaded = try ProfileReader.read(path: path)
                let deployments = StreamingTests.deployments.filter { $0.outages.allSatisfy { $0.start <= loaded.duration } }
                #expect(deployments.count >= 7)
                let memory = SimulationReport(profileName: "p", profile: loaded, predictions: deployments.map { Simulation.predict(loaded, deployment: $0) })
                var source = try ProfileFileEvents(path: path, blockSize: 1000)
                source.chunkSize = 97
                let (streamed, csv) = try streamedReport(&source, deployments: deployments)
                #expect(streamed.facts == memory.facts)
                let memoryFiles = try reportFiles(memory), streamedFiles = try reportFiles(streamed)
                for (name, bytes) in memoryFiles {
                    #expect(streamedFiles[name] == bytes, "\(name) differs (\(format))")
                }
                #expect(csv == (try sinkBytes { try memory.writePredictionsCSV(to: $0) }), "predictions.csv differs (\(format))")
            }
        }
    }
}

@Suite("mcsec simulate --profile streamed from the file")
struct SimulateStreamCommandTests {
    /// Every file in `dir`, by name.
    static func files(_ dir: String) throws -> [String: Data] {
        var all: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            all[name] = try Data(contentsOf: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(name)))
        }
        return all
    }

    @Test("--stream writes every file, and prints, byte for byte what the in-memory run does (CSV and JSON Lines, several scenarios)")
    func streamEqualsInMemory() throws {
        let dir = try temporaryDirectory()
        let spec = try writeFile(SpecJSON.encode(DeterminismTests.specs[0]), name: "spec.json", in: dir)
        let scenarios = ["--scenario", "workers=4;routing=hash", "--scenario", "workers=3;routing=random;seed=9",
                         "--scenario", "workers=2;backend=redis;trust-proxy-headers=yes;outage=5s-8s;skew=0.5s,-250ms"]
        for format in ProfileFormat.allCases {
            let profile = (dir as NSString).appendingPathComponent("p.\(format.rawValue)")
            let generated = try mcsec(["profile", "--spec", spec, "--out", profile])
            #expect(generated.status == 0, "\(generated.err)")
            let memoryDir = (dir as NSString).appendingPathComponent("memory-\(format.rawValue)")
            let streamDir = (dir as NSString).appendingPathComponent("stream-\(format.rawValue)")
            let memory = try mcsec(["simulate", "--profile", profile, "--out-dir", memoryDir] + scenarios)
            let streamed = try mcsec(["simulate", "--profile", profile, "--stream", "--out-dir", streamDir] + scenarios)
            #expect(memory.status == 0 && streamed.status == 0, "\(memory.err) \(streamed.err)")
            #expect(streamed.out == memory.out)
            #expect(streamed.err.replacingOccurrences(of: streamDir, with: "D") == memory.err.replacingOccurrences(of: memoryDir, with: "D"))
            let memoryFiles = try SimulateStreamCommandTests.files(memoryDir), streamFiles = try SimulateStreamCommandTests.files(streamDir)
            #expect(memoryFiles.count == 7)
            #expect(Set(streamFiles.keys) == Set(memoryFiles.keys))
            for (name, bytes) in memoryFiles {
                #expect(!bytes.isEmpty && streamFiles[name] == bytes, "\(name) differs (\(format))")
            }
            for output in ["csv", "json"] {
                let a = try mcsec(["simulate", "--profile", profile, "--format", output] + scenarios)
                let b = try mcsec(["simulate", "--profile", profile, "--format", output, "--stream"] + scenarios)
                #expect(a.status == 0 && !a.out.isEmpty && b.out == a.out, "--format \(output) differs (\(format))")
            }
        }
    }

    @Test("bad input streamed: the in-memory run's message and status, and nothing written")
    func badInput() throws {
        let dir = try temporaryDirectory()
        var lines = ProfileFileEventsTests.goodLines(5000)
        lines[4321] = #"{"t":4322,"client":"10.0.0.1","endpoint":"webhook","body_bytes":1,"signature":"forged"}"#
        let bad = try writeFile(lines.joined(separator: "\n"), name: "bad.jsonl", in: dir)
        let empty = try writeFile("t,client,endpoint,body_bytes,signature\n", name: "empty.csv", in: dir)
        let good = try writeFile(ProfileFileEventsTests.goodLines(40).joined(separator: "\n"), name: "good.jsonl", in: dir)
        for (path, options, mentions) in [(bad, [String](), "bad.jsonl:4322:"), (empty, [], "holds no events"),
                                          (good, ["--backend", "redis", "--outage", "41s-50s"], "starts after the profile ends")] {
            let out = (dir as NSString).appendingPathComponent("out-\(UUID().uuidString.prefix(6))")
            let memory = try mcsec(["simulate", "--profile", path] + options)
            let streamed = try mcsec(["simulate", "--profile", path, "--stream", "--out-dir", out] + options)
            #expect(memory.status == 2 && streamed.status == 2)
            #expect(memory.err.contains(mentions), "\(memory.err)")
            #expect(streamed.err == memory.err)
            #expect(!FileManager.default.fileExists(atPath: out), "a failed run wrote \(out)")
        }
        let compare = try mcsec(["simulate", "--profile", good, "--stream", "--compare", dir])
        #expect(compare.status == 2 && compare.err.contains("--compare"), "\(compare.err)")
        let stdin = try mcsec(["simulate", "--profile", "-", "--stream"])
        #expect(stdin.status == 2 && stdin.err.contains("standard input"), "\(stdin.err)")
        let both = try mcsec(["simulate", "--profile", good, "--stream", "--in-memory"])
        #expect(both.status == 2 && both.err.contains("either --stream or --in-memory"), "\(both.err)")
    }
}
