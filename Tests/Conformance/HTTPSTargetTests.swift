import Foundation
import ReferenceTargets
import TargetFiles
import Testing
import Harness
import Reference
import TestSupport
import Wire

/// Staging as it usually is: HTTPS through a TLS terminator with a private certificate
/// authority. The test makes the authority and the server's certificate (openssl), starts
/// nginx in front of `mcsec serve`, and checks the suites through it.
@Suite(.serialized) struct HTTPSTargetTests {
    /// A private CA, a certificate for 127.0.0.1 signed by it, nginx terminating TLS with it
    /// in front of a fresh `mcsec serve`.
    final class Terminator {
        let directory: String
        let serve: ServeProcess
        let nginx: ChildProcess
        let port: Int
        var caFile: String { directory + "/ca.pem" }
        var baseURL: String { "https://127.0.0.1:\(port)" }

        init() throws {
            directory = NSTemporaryDirectory() + "mcsec-tls-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let openssl = try #require(ExternalTool.openssl.executable)
            func run(_ arguments: [String]) throws {
                let p = try ChildProcess(executable: openssl, arguments: arguments)
                let status = p.waitForExit(timeout: 60)
                guard status == 0 else { throw ChildProcessError(message: "openssl \(arguments.first ?? ""): \(p.stderr.suffix(400))") }
            }
            let d = directory
            try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem", "-days", "2", "-subj", "/CN=mcsec test CA"])
            try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(d)/server.key", "-out", "\(d)/server.csr", "-subj", "/CN=127.0.0.1"])
            try Data("subjectAltName=IP:127.0.0.1\n".utf8).write(to: URL(fileURLWithPath: "\(d)/ext.cnf"))
            try run(["x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key", "-CAcreateserial",
                     "-out", "\(d)/server.pem", "-days", "2", "-extfile", "\(d)/ext.cnf"])
            serve = try ServeProcess.start()
            port = try FreePort.find()
            let config = """
            daemon off;
            master_process off;
            pid \(d)/nginx.pid;
            error_log \(d)/error.log;
            events { worker_connections 512; }
            http {
              access_log off;
              client_body_temp_path \(d)/body; proxy_temp_path \(d)/proxy; fastcgi_temp_path \(d)/fastcgi;
              uwsgi_temp_path \(d)/uwsgi; scgi_temp_path \(d)/scgi;
              server {
                listen 127.0.0.1:\(port) ssl;
                ssl_certificate \(d)/server.pem;
                ssl_certificate_key \(d)/server.key;
                client_max_body_size 0;
                proxy_request_buffering off;
                # nginx answers malformed requests itself (400): those answers need the page's
                # headers too (headers.every-response finds it otherwise), so nginx sets them on
                # every answer, once.
                proxy_hide_header X-Content-Type-Options;
                proxy_hide_header X-Frame-Options;
                proxy_hide_header Referrer-Policy;
                add_header X-Content-Type-Options nosniff always;
                add_header X-Frame-Options DENY always;
                add_header Referrer-Policy strict-origin-when-cross-origin always;
                location / {
                  proxy_pass http://127.0.0.1:\(serve.port);
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                }
              }
            }
            """
            try Data(config.utf8).write(to: URL(fileURLWithPath: "\(d)/nginx.conf"))
            let binary = try #require(ExternalTool.nginx.executable)
            nginx = try ChildProcess(executable: binary, arguments: ["-p", d, "-c", "\(d)/nginx.conf", "-e", "\(d)/error.log"])
            // Ready when it accepts connections.
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if let c = try? RawHTTPConnection(host: "127.0.0.1", port: port, timeout: 1) { c.close(); return }
                usleep(20_000)
            }
            throw ChildProcessError(message: "nginx did not listen on \(port): \(nginx.stderr.suffix(400))")
        }

        func stop() {
            nginx.terminate()
            serve.process.terminate()
            try? FileManager.default.removeItem(atPath: directory)
        }

        func targetFile() throws -> TargetFile {
            var file = ReferenceTarget.targetFile(for: try Conformance.world())
            file.baseURL = baseURL
            return file
        }
    }

    /// Through the terminator with the private CA: nothing fails, and every verdict is the one
    /// the same fixture gets over plain HTTP, or a skip that says why (one source address).
    @Test(.requires(.nginx), .requires(.openssl))
    func theSuitesThroughATLSTerminatorGiveTheVerdictsOfPlainHTTP() throws {
        let tls = try Terminator()
        defer { tls.stop() }
        let https = try HTTPTarget(baseURL: tls.baseURL, targetFile: try tls.targetFile(), tls: TLSOptions(caFile: tls.caFile))
        try https.probe()
        let suite = try Conformance.suite()
        let overTLS = try Runner(suite: suite, target: https).run()
        for r in overTLS.results { Conformance.recordProblems(r, catalog: suite.catalog) }
        #expect(overTLS.counts.failed == 0 && overTLS.counts.deviations == 0)

        let plainServer = try ServeProcess.start()
        defer { plainServer.process.terminate() }
        let plain = try Runner(suite: suite, target: try HTTPTarget(baseURL: plainServer.baseURL, targetFile: try LiveTargetTests.targetFile())).run()
        let plainVerdicts = Dictionary(plain.results.map { ($0.id, $0.verdict) }, uniquingKeysWith: { a, _ in a })
        for r in overTLS.results where r.verdict != .skip {
            #expect(r.verdict == plainVerdicts[r.id], "\(r.id): \(r.verdict.label) over TLS, \(plainVerdicts[r.id]?.label ?? "none") over HTTP")
        }
        // Raw framing goes through the tunnel too: chunked and declared-length fixtures ran.
        #expect(overTLS.results.first { $0.id == "size.chunked-over" }?.verdict == .pass)
        #expect(overTLS.counts.passed >= 40, "\(overTLS.counts)")
        // What skips says why: the budget of the one address, or what the target file lacks.
        for r in overTLS.results where r.verdict == .skip { #expect(r.skipReason?.isEmpty == false) }
    }

    /// Without the CA the certificate cannot be trusted: one message and exit 2, no fixture
    /// failures; with --insecure the run goes on and every report says so.
    @Test(.requires(.nginx), .requires(.openssl), .requiresMcsecBinary)
    func anUntrustedCertificateIsOneErrorAndInsecureIsLoud() throws {
        let tls = try Terminator()
        defer { tls.stop() }
        let path = tls.directory + "/target.json"
        try Data(try tls.targetFile().json.pretty.utf8).write(to: URL(fileURLWithPath: path))
        let binary = try #require(TestPaths.mcsecBinary)
        let untrusted = try ChildProcess(executable: binary, arguments: ["check", "--target-file", path])
        #expect(untrusted.waitForExit(timeout: 60) == 2)
        let lines = untrusted.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(untrusted.stderr)")
        #expect(untrusted.stderr.contains("certificate not trusted") && untrusted.stderr.contains("--cacert"), "\(untrusted.stderr)")
        #expect(untrusted.stdoutLines.isEmpty)

        let trusted = try ChildProcess(executable: binary, arguments: ["check", "--target-file", path, "--cacert", tls.caFile, "--rules", "HDR"])
        #expect(trusted.waitForExit(timeout: 120) == 0, "\(trusted.stderr.suffix(500)) \(trusted.stdoutLines.filter { $0.contains("FAIL") || $0.contains("expected") || $0.contains("actual") }.prefix(12))")

        let insecure = try ChildProcess(executable: binary, arguments: ["check", "--target-file", path, "--insecure", "--rules", "HDR", "--format", "json"])
        #expect(insecure.waitForExit(timeout: 120) == 0, "\(insecure.stderr.suffix(500))")
        let json = insecure.stdoutLines.joined(separator: "\n")
        #expect(json.contains("\"insecure\": true"))
        #expect(insecure.stderr.contains("INSECURE"))
    }
}
