import Foundation
import Wire

/// `mcsec sign`: prints the webhook signature header for a body, for sending signed webhooks by
/// hand (`curl -H "$(mcsec sign --secret S body.json)" --data-binary @body.json …`).
enum SignCommand {
    static let defaultHeader = "X-Hub-Signature-256"

    static let secretVariable = "MCSEC_WEBHOOK_SECRET"

    static let help = CommandHelp(
        path: "sign",
        positionals: "[FILE|-]",
        about: """
        Prints the signature header line for the body in FILE (standard input when FILE is '-' or
        absent), exactly as a webhook sender computes it:

            X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body bytes>

        The body is read byte for byte: no trailing newline is added or removed, so sign the same
        file you send (curl --data-binary @FILE, not --data).

        The secret comes from --secret-file or --secret (one of them), else from the
        \(secretVariable) environment variable. --secret is visible to every user of this machine in 'ps' while the
        command runs: prefer the file or the variable for a real secret.
        """,
        options: [
            .valued("secret-file", "FILE", "read the webhook's shared secret from FILE (one trailing newline is ignored)", kind: .inputFile),
            .valued("secret", "S", "the webhook's shared secret on the command line (visible in 'ps')"),
            .valued("header", "NAME", "print NAME instead of X-Hub-Signature-256 (for a webhook configured with its own signature header)"),
        ])

    static func run(_ arguments: Arguments) throws -> Int32 {
        let secret = try self.secret(arguments, environment: ProcessInfo.processInfo.environment)
        let header = arguments.value("header") ?? defaultHeader
        guard isToken(header) else {
            throw UsageError("--header '\(header)' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)")
        }
        guard arguments.positionals.count <= 1 else {
            throw UsageError("give at most one FILE (or '-' for standard input), got \(arguments.positionals.count)")
        }
        let path = arguments.positionals.first ?? "-"
        var mac = HMACSHA256(key: Array(secret.utf8))
        try readBody(path) { chunk in chunk.withUnsafeBytes { mac.update($0) } }
        print("\(header): sha256=\(Hex.encode(mac.finalize()))")
        return 0
    }

    /// The secret from --secret-file or --secret, else the environment variable.
    static func secret(_ arguments: Arguments, environment: [String: String]) throws -> String {
        if arguments.value("secret-file") != nil && arguments.value("secret") != nil {
            throw UsageError("--secret-file and --secret both give the secret; give one")
        }
        let secret: String
        if let path = arguments.value("secret-file") {
            var bytes: [UInt8] = []
            try readBody(path) { bytes.append(contentsOf: $0) }
            // An editor or `echo` ends the file with a newline that is not part of the secret.
            if bytes.last == 10 { bytes.removeLast() }
            if bytes.last == 13 { bytes.removeLast() }
            secret = String(decoding: bytes, as: UTF8.self)
            guard !secret.isEmpty else { throw UsageError("--secret-file \(path): the file is empty; a webhook without a secret is not signed") }
        } else if let value = arguments.value("secret") {
            secret = value
        } else if let value = environment[secretVariable] {
            secret = value
            guard !secret.isEmpty else { throw UsageError("\(secretVariable) is empty: a webhook without a secret is not signed") }
        } else {
            throw UsageError("no secret: give --secret-file FILE, set \(secretVariable), or give --secret S (see 'mcsec help sign')")
        }
        guard !secret.isEmpty else {
            throw UsageError("--secret is empty: a webhook without a secret is not signed")
        }
        return secret
    }

    /// Streams the bytes of `path` (or standard input for "-") to `consume`, so a large body is
    /// never held in memory whole.
    static func readBody(_ path: String, _ consume: (Data) -> Void) throws {
        let handle: FileHandle
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw UsageError("\(path): no such file")
            }
            guard !isDirectory.boolValue else {
                throw UsageError("\(path): is a directory, not a file")
            }
            do {
                handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            } catch {
                throw UsageError("\(path): \(PathCheck.plain(error))")
            }
        }
        defer { if path != "-" { try? handle.close() } }
        do {
            while let chunk = try handle.read(upToCount: 1 << 16), !chunk.isEmpty {
                consume(chunk)
            }
        } catch {
            throw UsageError("\(path == "-" ? "standard input" : path): \(PathCheck.plain(error))")
        }
    }

    /// An HTTP field name is an RFC 9110 token.
    static func isToken(_ name: String) -> Bool {
        HTTPGrammar.isToken(name)
    }
}
