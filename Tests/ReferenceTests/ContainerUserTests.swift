import Reference
import TestSupport
import Testing

@Suite struct ContainerUserTests {
    /// A backend image in the style of Mission Control's: one stage, a system user and group,
    /// files copied with --chown, USER at the end.
    static let backend = """
    # syntax=docker/dockerfile:1
    FROM python:3.12-slim AS base

    ENV PYTHONDONTWRITEBYTECODE=1 \\
        PYTHONUNBUFFERED=1
    WORKDIR /app

    # A dedicated unprivileged account; nothing in the image needs root at run time.
    RUN addgroup --system appgroup \\
     && adduser --system --ingroup appgroup --no-create-home appuser
    COPY --chown=appuser:appgroup requirements.txt ./
    RUN pip install --no-cache-dir -r requirements.txt
    COPY --chown=appuser:appgroup . .

    USER appuser
    EXPOSE 8000
    CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
    """

    /// A frontend image in the style of Mission Control's: build stages run as whatever they
    /// like; only the runner stage counts.
    static let frontend = """
    FROM node:20-alpine AS deps
    WORKDIR /app
    COPY package.json package-lock.json ./
    RUN npm ci

    FROM node:20-alpine AS builder
    WORKDIR /app
    COPY --from=deps /app/node_modules ./node_modules
    COPY . .
    USER node
    RUN npm run build

    FROM node:20-alpine AS runner
    WORKDIR /app
    ENV NODE_ENV=production
    RUN addgroup --system appgroup && adduser --system -G appgroup appuser
    COPY --from=builder --chown=appuser:appgroup /app/.next ./.next
    COPY --from=builder --chown=appuser:appgroup /app/public ./public
    USER appuser
    CMD ["npm", "start"]
    """

    @Test func missionControlStyleDockerfilesRunAsAppUser() {
        #expect(ContainerUser.check(dockerfile: Self.backend) == .nonRoot(user: "appuser"))
        #expect(ContainerUser.check(dockerfile: Self.frontend) == .nonRoot(user: "appuser"))
    }

    @Test func removingTheUserLineMakesTheFinalStageRoot() {
        let withoutUser = Self.frontend.replacingOccurrences(of: "USER appuser\n", with: "")
        // The builder stage's USER node does not carry into the runner stage.
        #expect(ContainerUser.check(dockerfile: withoutUser) == .root(reason: "no USER instruction: runs as root"))
    }

    static let cases = DockerfileCorpus.cases

    @Test(arguments: cases)
    func verdict(_ test: DockerfileCorpus.Case) {
        let verdict = ContainerUser.check(dockerfile: test.dockerfile)
        switch test.expected {
        case .nonRoot(let user):
            #expect(verdict == .nonRoot(user: user))
        case .root:
            guard case .root(let reason) = verdict else {
                Issue.record("expected root, got \(verdict)")
                return
            }
            #expect(reason.contains("root"))
        case .undetermined(let fragment):
            guard case .undetermined(let reason) = verdict else {
                Issue.record("expected undetermined, got \(verdict)")
                return
            }
            #expect(reason.contains(fragment), "reason: \(reason)")
        }
    }

    /// Arbitrary fragments never crash the checker, and a well-formed final stage appended to
    /// them still decides the verdict (what came before is earlier stages or noise).
    @Test func arbitraryInputIsHandledAndTheFinalStageDecides() {
        let pieces = ["FROM", "USER", "ARG", "ENV", "ONBUILD", "$", "${", "}", ":-", ":+", "?", "'", "\"", "=", "root",
                      "0", "AS", " ", "\n", "#", "X", ":", "base", "\r\n", "\t", "é", "--platform=x"]
        var state: UInt64 = 0xD0CC
        for _ in 0..<400 {
            var text = ""
            for _ in 0..<24 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text += pieces[Int((state >> 33) % UInt64(pieces.count))]
            }
            let first = ContainerUser.check(dockerfile: text)
            #expect(ContainerUser.check(dockerfile: text) == first)
            #expect(ContainerUser.check(dockerfile: text + "\nFROM alpine\nUSER appuser\n") == .nonRoot(user: "appuser"),
                    "\(text.debugDescription)")
        }
    }

    @Test func reasonsNameTheLine() {
        let verdict = ContainerUser.check(dockerfile: "FROM alpine\nRUN true\nARG RUNTIME_USER=app\nUSER $RUNTIME_USER\n")
        guard case .undetermined(let reason) = verdict else {
            Issue.record("expected undetermined, got \(verdict)")
            return
        }
        #expect(reason.contains("line 4"))
        #expect(reason.contains("--build-arg"))
        #expect(ContainerUser.check(dockerfile: "FROM alpine\n\nUSER root\n") == .root(reason: "line 3: USER root: runs as root (uid 0)"))
    }
}
