import Foundation
import Testing
import TestSupport
import Wire

/// `mcsec sign` run as a process: the printed header must be the HMAC of the exact body bytes.
@Suite(.requiresMcsecBinary)
struct SignCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func mcsec(_ arguments: [String], stdin: [UInt8] = []) throws -> Run {
        let binary = try #require(TestPaths.mcsecBinary)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(stdin))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                   stderr: String(decoding: err, as: UTF8.self))
    }

    @Test func signsFileAndStandardInputByteForByte() throws {
        // Binary bytes and a trailing newline: nothing may be trimmed or re-encoded.
        var body: [UInt8] = Array("{\"event\":\"push\"}\r\n".utf8)
        body += [0x00, 0xff, 0x0a]
        let secret = "webhook-secret"
        let expected = "X-Hub-Signature-256: sha256=" + Hex.encode(HMACSHA256.authenticationCode(for: body, key: Array(secret.utf8))) + "\n"

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-sign-\(UUID().uuidString).bin")
        try Data(body).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        let fromFile = try mcsec(["sign", "--secret", secret, file.path])
        #expect(fromFile.status == 0)
        #expect(fromFile.stdout == expected)
        let fromDash = try mcsec(["sign", "--secret", secret, "-"], stdin: body)
        #expect(fromDash.stdout == expected)
        let fromDefault = try mcsec(["sign", "--secret=\(secret)"], stdin: body)
        #expect(fromDefault.stdout == expected)
        let custom = try mcsec(["sign", "--secret", secret, "--header", "X-Board-Signature"], stdin: body)
        #expect(custom.stdout == expected.replacingOccurrences(of: "X-Hub-Signature-256", with: "X-Board-Signature"))
    }

    @Test func errorsExitWithStatusTwoAndSayWhy() throws {
        let missingSecret = try mcsec(["sign", "-"], stdin: [])
        #expect(missingSecret.status == 2)
        #expect(missingSecret.stderr.contains("--secret"))
        let missingFile = try mcsec(["sign", "--secret", "s", "/nonexistent/mcsec-body.json"])
        #expect(missingFile.status == 2)
        #expect(missingFile.stderr.contains("/nonexistent/mcsec-body.json"))
        let badHeader = try mcsec(["sign", "--secret", "s", "--header", "Bad Header:"], stdin: [])
        #expect(badHeader.status == 2)
        #expect(badHeader.stdout.isEmpty)
        let help = try mcsec(["sign", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--secret"))
    }
}
