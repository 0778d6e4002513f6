@testable import Harness
import Reference
import TestSupport
import Testing

/// The checker reads Dockerfiles itself (it must not ask the reference what a Dockerfile
/// means): its reading gives the page's verdict on the shared corpus, and agrees with the
/// reference's rule on arbitrary input.
@Suite struct DockerfileInspectionTests {
    @Test(arguments: DockerfileCorpus.cases)
    func verdict(_ test: DockerfileCorpus.Case) {
        let inspection = DockerfileInspection(text: test.dockerfile)
        switch test.expected {
        case .nonRoot(let user):
            #expect(inspection.finalUser == .nonRoot(user))
        case .root:
            #expect(inspection.finalUserName == "root", "\(inspection.finalUserDescription)")
        case .undetermined(let fragment):
            guard case .undetermined(let reason) = inspection.finalUser else {
                Issue.record("expected undetermined, got \(inspection.finalUserDescription)")
                return
            }
            // The reference words its reasons its own way; the checker's must still name the cause.
            let cause = ["expands to nothing": "names no user", "FROM without an image": "FROM names no image"][fragment] ?? fragment
            #expect(reason.contains(cause), "reason: \(reason)")
        }
    }

    /// Random fragments: the two independent readings reach the same verdict kind and user.
    @Test func agreesWithTheReferenceRuleOnArbitraryInput() {
        let pieces = ["FROM", "USER", "ARG", "ENV", "ONBUILD", "$", "${", "}", ":-", ":+", "'", "\"", "=", "root", "0",
                      "AS", " ", "\n", "#", "X", ":", "base", "\r\n", "\t", "é", "--platform=x", "appuser", "\\\n", "1000"]
        var state: UInt64 = 0x5EED
        var compared = 0
        for _ in 0..<2000 {
            var text = "FROM alpine AS base\n"
            for _ in 0..<20 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text += pieces[Int((state >> 33) % UInt64(pieces.count))]
            }
            let mine = DockerfileInspection(text: text)
            let reference = ContainerUser.check(dockerfile: text)
            let referenceName: String
            var referenceUser: String? = nil
            switch reference {
            case .nonRoot(let user): referenceName = "nonRoot"; referenceUser = user
            case .root: referenceName = "root"
            case .undetermined: referenceName = "undetermined"
            }
            #expect(mine.finalUserName == referenceName && mine.user == referenceUser,
                    "\(text.debugDescription): checker \(mine.finalUserDescription), reference \(reference)")
            compared += 1
        }
        #expect(compared == 2000)
    }

    @Test func finalStageCopiesAndVolumes() {
        let inspection = DockerfileInspection(text: """
        FROM node AS build
        COPY . /src
        FROM node
        COPY --from=build --chown=appuser:appgroup /src /app
        COPY \\
          extra /extra
        VOLUME /data
        USER appuser
        """)
        // The continuation joins as written: the indentation stays.
        #expect(inspection.copiesWithoutChown("appuser:appgroup") == ["COPY   extra /extra"])
        #expect(inspection.volumes == ["/data"])
    }
}
