import Foundation
import Fuzz
import Reference
import TargetFiles
import TestSupport
import Testing
import Wire

/// The bundled world as a target file, with the loopback source addresses Linux has.
func referenceTargetFile(host: String = "127.0.0.1", port: Int) throws -> TargetFile {
    var t = try World.bundled().targetFile
    t.baseURL = "http://\(host):\(port)"
    #if os(Linux)
    t.sourceAddresses = (2...25).map { "127.0.0.\($0)" }
    #endif
    return t
}

@Suite struct OracleWorldTests {
    @Test func oracleWorldDescribesTheSameTargetFile() throws {
        let target = try World.bundled().targetFile
        let back = try World.oracle(for: target).targetFile
        #expect(back.boards == target.boards)
        #expect(back.webhooks == target.webhooks)
        #expect(back.agentTokens == target.agentTokens)
        #expect(back.userTokens == target.userTokens)
        #expect(back.gateways == target.gateways)
    }

    @Test func aBoardIdThatIsNotAUUIDIsAnInputError() throws {
        var target = try World.bundled().targetFile
        target.boards["own"] = "not-a-board"
        #expect(throws: FuzzInputError.self) { try World.oracle(for: target) }
    }
}

@Suite struct GeneratorTests {
    @Test func theSameSeedGivesTheSameBytesAndEveryClassIsUsed() throws {
        let context = GenerationContext(target: try referenceTargetFile(port: 8000), host: "127.0.0.1:8000")
        let a = FuzzRun.plan(budget: 500, seed: 42, classes: RequestClass.catalog, context: context)
        let b = FuzzRun.plan(budget: 500, seed: 42, classes: RequestClass.catalog, context: context)
        let c = FuzzRun.plan(budget: 500, seed: 43, classes: RequestClass.catalog, context: context)
        #expect(a.map(\.wire) == b.map(\.wire))
        #expect(a.map(\.wire) != c.map(\.wire))
        #expect(RequestClass.catalog.count >= 40)
        #expect(Set(a.map(\.className)) == Set(RequestClass.catalog.map(\.name)))
    }

    @Test func classesSelectByPrefixAndUnknownNamesAreRefused() throws {
        var options = FuzzOptions()
        options.classes = ["nope"]
        #expect(throws: FuzzInputError.self) { try FuzzRun(target: try referenceTargetFile(port: 1), host: "127.0.0.1", port: 1, options: options) }
    }
}

@Suite(.serialized) struct LiveFuzzTests {
    func fuzz(_ arguments: [String], budget: Int, classes: [String] = [], seed: UInt64 = 5) throws -> (FuzzResult, FuzzRun) {
        let server = try ServeProcess.start(arguments: arguments)
        defer { server.process.terminate() }
        var options = FuzzOptions()
        options.budget = budget
        options.seed = seed
        options.classes = classes
        let run = try FuzzRun(target: try referenceTargetFile(port: server.port), host: "127.0.0.1", port: server.port, options: options)
        return (run.run(), run)
    }

    @Test func theReferenceServedMatchesItsOracle() throws {
        let (result, run) = try fuzz([], budget: 600)
        let report = FuzzReport(result: result, run: run).text
        #expect(result.findings.isEmpty, "\(report)")
        #expect(result.classes.count == RequestClass.catalog.count)
        #expect(FuzzReport(result: result, run: run).exitStatus == 0)
    }

    @Test(arguments: [
        ("skip-signature-check", ["sig."], "SIG-6"),
        ("frame-options-sameorigin", ["health", "path."], "HDR-3"),
        ("request-id-not-echoed", ["reqid."], "ERR-2"),
        ("size-checked-only-by-content-length", ["size."], "SIZE-5"),
    ])
    func aPlantedDefectIsAFailWithAMinimalReproduction(mutation: String, classes: [String], rule: String) throws {
        let (result, run) = try fuzz(["--mutation", mutation], budget: 150, classes: classes)
        let report = FuzzReport(result: result, run: run)
        #expect(report.exitStatus == 1)
        let failing = result.classes.filter { $0.grade == .fail }
        #expect(!failing.isEmpty)
        let rules = failing.flatMap { ($0.minimal ?? $0.first)?.differences.flatMap(\.rules) ?? [] }
        #expect(rules.contains(rule), "\(report.text)")
        #expect(failing.allSatisfy { $0.minimal != nil })
        #expect(report.text.contains("reproduce (minimal): curl "))
    }
}
