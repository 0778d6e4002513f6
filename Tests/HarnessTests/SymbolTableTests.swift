import Foundation
import Testing
import TargetFiles
import TestSupport
@testable import Harness

/// The symbol tables of the fixture and target-file documentation are the table the checker
/// uses (`TargetFile.symbols`), so the documentation cannot drift from what the checker takes.
@Suite struct SymbolTableTests {
    /// The table rows (`|` lines) after `heading` up to the next heading.
    static func tableRows(in file: URL, after heading: String) throws -> [String] {
        let text = try String(contentsOf: file, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: heading) else { return [] }
        var rows: [String] = []
        for line in lines[(start + 1)...] {
            if line.hasPrefix("#") { break }
            if line.hasPrefix("|") { rows.append(line) }
        }
        return rows
    }

    @Test func fixtureReadmeListsExactlyTheSymbolTable() throws {
        let rows = try Self.tableRows(in: TestPaths.fixtures.appendingPathComponent("README.md"), after: "### Symbols")
        #expect(rows.joined(separator: "\n") == TargetFile.symbolsMarkdown,
                "Fixtures/README.md's symbol table differs from TargetFile.symbols; it should read:\n\(TargetFile.symbolsMarkdown)")
    }

    @Test func targetReadmeSaysWhichSymbolsEachEntryProvides() throws {
        let readme = TestPaths.fixtures.appendingPathComponent("targets/README.md")
        let rows = try Self.tableRows(in: readme, after: "### Symbols each entry provides")
        #expect(rows.joined(separator: "\n") == TargetFile.entriesMarkdown,
                "Fixtures/targets/README.md's symbols per entry differ from TargetFile.symbols; they should read:\n\(TargetFile.entriesMarkdown)")
        // Every entry a symbol comes from is documented among the entries.
        let entries = try Self.tableRows(in: readme, after: "## Entries").joined(separator: "\n")
        for entry in Set(TargetFile.symbols.flatMap(\.entries)) {
            #expect(entries.contains("`\(entry)`"), "the Entries table of Fixtures/targets/README.md does not document \(entry)")
        }
    }

    @Test func everyDocumentedSymbolIsAcceptedAndEveryOtherRefusedWithASuggestion() throws {
        for symbol in TargetFile.symbols {
            let spelled = symbol.family?.example ?? symbol.name
            #expect(TargetFile.checkSymbol(spelled) == nil, "{\(spelled)} is in the table but refused")
        }
        #expect(TargetFile.checkSymbol("source.10") != nil)
        #expect(TargetFile.checkSymbol("captured.") != nil)
        let problem = try #require(TargetFile.checkSymbol("webhook.singed"))
        #expect(problem.contains("did you mean {webhook.signed}?"), "\(problem)")
    }

    @Test func aMissingEntrySkipsNamingItAndRunSymbolsNeverDo() {
        var file = TargetFile()
        #expect(file.missing("webhook.custom") == "the target file has no webhooks.custom.id (for {webhook.custom})")
        #expect(file.missing("board.memory|upper") == "the target file has no memoryEndpoint with {board} filled in (for {board.memory})")
        file.webhooks["custom"] = .init(id: "w", secret: "s", header: "X-Sig")
        #expect(file.missing("webhook.custom") == nil)
        #expect(file.value(of: "webhook.custom.header") == "X-Sig")
        for run in ["i", "source", "source.3", "limit", "uuid", "ipv6", "captured.id", "board.unknown"] {
            #expect(file.missing(run) == nil, "{\(run)} is the run's to provide")
        }
    }

    @Test func theScopeResolvesRunSymbolsAndTargetEntries() {
        var file = TargetFile()
        file.boards["own"] = "b1"
        file.memoryEndpoint = "/api/v1/boards/{board}/memory"
        var scope = SymbolScope(targetFile: file, unknownBoard: "unknown", sources: ["127.0.0.5", nil], payloadLimit: 42)
        scope.iteration = 7
        scope.captured["id"] = "c9"
        #expect(scope.value("board") == "b1")
        #expect(scope.value("board.memory") == "/api/v1/boards/b1/memory")
        #expect(scope.value("board.unknown") == "unknown")
        #expect(scope.value("i") == "7")
        #expect(scope.value("limit") == "42")
        #expect(scope.value("source") == "127.0.0.5")
        #expect(scope.value("source.2") == "127.0.0.1")
        #expect(scope.value("source.3") == nil)
        #expect(scope.value("captured.id") == "c9")
        #expect(scope.value("board|upper") == "B1")
        #expect(scope.value("gateway") == nil)
    }
}
