import Testing
import Reference

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

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var dockerfile: String
        var expected: Expected
        var testDescription: String { name }
    }

    enum Expected: Sendable {
        case nonRoot(String)
        case root
        case undetermined(mentioning: String)
    }

    static let cases: [Case] = [
        Case(name: "no USER at all", dockerfile: "FROM alpine:3.20\nRUN echo hi\n", expected: .root),
        Case(name: "FROM scratch without USER", dockerfile: "FROM scratch\nCOPY app /app\n", expected: .root),
        Case(name: "USER root", dockerfile: "FROM alpine\nUSER root\n", expected: .root),
        Case(name: "USER 0", dockerfile: "FROM alpine\nUSER 0\n", expected: .root),
        Case(name: "USER 0:0", dockerfile: "FROM alpine\nUSER 0:0\n", expected: .root),
        Case(name: "USER 000 is uid 0", dockerfile: "FROM alpine\nUSER 000\n", expected: .root),
        Case(name: "USER root:appgroup", dockerfile: "FROM alpine\nUSER root:appgroup\n", expected: .root),
        Case(name: "USER name", dockerfile: "FROM alpine\nUSER appuser\n", expected: .nonRoot("appuser")),
        Case(name: "USER uid", dockerfile: "FROM alpine\nUSER 10001\n", expected: .nonRoot("10001")),
        Case(name: "USER uid:gid", dockerfile: "FROM alpine\nUSER 1000:1000\n", expected: .nonRoot("1000:1000")),
        Case(name: "USER name:group", dockerfile: "FROM alpine\nUSER appuser:appgroup\n", expected: .nonRoot("appuser:appgroup")),
        Case(name: "non-root user in the root group is still non-root", dockerfile: "FROM alpine\nUSER 1001:0\n", expected: .nonRoot("1001:0")),
        Case(name: "lower-case instructions", dockerfile: "from alpine as final\nuser appuser\n", expected: .nonRoot("appuser")),
        Case(name: "mixed-case instructions", dockerfile: "From alpine\nUsEr nobody\n", expected: .nonRoot("nobody")),
        Case(name: "last USER wins (root last)", dockerfile: "FROM alpine\nUSER appuser\nRUN true\nUSER root\n", expected: .root),
        Case(name: "last USER wins (non-root last)", dockerfile: "FROM alpine\nUSER root\nRUN apk add curl\nUSER appuser\n", expected: .nonRoot("appuser")),
        Case(name: "USER only in an earlier stage does not carry over",
             dockerfile: "FROM golang:1.22 AS build\nUSER builder\nRUN go build\nFROM alpine\nCOPY --from=build /out /app\n",
             expected: .root),
        Case(name: "FROM an earlier stage inherits its USER",
             dockerfile: "FROM alpine AS base\nRUN adduser -S appuser\nUSER appuser\nFROM base AS final\nCMD [\"app\"]\n",
             expected: .nonRoot("appuser")),
        Case(name: "inheritance through two stages, stage names case-insensitive",
             dockerfile: "FROM alpine AS Base\nUSER appuser\nFROM base AS middle\nRUN true\nFROM MIDDLE\n",
             expected: .nonRoot("appuser")),
        Case(name: "a later stage can switch back to root",
             dockerfile: "FROM alpine AS base\nUSER appuser\nFROM base\nUSER root\n", expected: .root),
        Case(name: "an image merely named like a later stage is not that stage",
             dockerfile: "FROM runtime\nFROM alpine AS runtime\nUSER appuser\nFROM alpine\n", expected: .root),
        Case(name: "line continuation inside USER", dockerfile: "FROM alpine\nUSER \\\n    appuser\n", expected: .nonRoot("appuser")),
        Case(name: "comment and blank line inside a continuation",
             dockerfile: "FROM alpine\nRUN apk add curl \\\n# USER root\n\n    && true\nUSER appuser\n",
             expected: .nonRoot("appuser")),
        Case(name: "commented-out USER root is ignored", dockerfile: "FROM alpine\nUSER appuser\n# USER root\n  # USER root\n", expected: .nonRoot("appuser")),
        Case(name: "CRLF line endings", dockerfile: "FROM alpine\r\nUSER appuser\r\n", expected: .nonRoot("appuser")),
        Case(name: "escape directive with backtick continuations",
             dockerfile: "# escape=`\nFROM mcr.microsoft.com/windows/nanoserver\nUSER `\n  ContainerUser\n",
             expected: .nonRoot("ContainerUser")),
        Case(name: "heredoc body is data, not instructions",
             dockerfile: "FROM alpine\nUSER appuser\nRUN <<EOF\necho setup\nUSER root\nEOF\nCMD [\"sh\"]\n",
             expected: .nonRoot("appuser")),
        Case(name: "tab-stripping heredoc", dockerfile: "FROM alpine\nUSER appuser\nCOPY <<-EOT /etc/note\n\tUSER root\n\tEOT\n",
             expected: .nonRoot("appuser")),
        Case(name: "ONBUILD USER does not apply to this build", dockerfile: "FROM alpine\nUSER appuser\nONBUILD USER root\n", expected: .nonRoot("appuser")),
        Case(name: "USER $VAR from a build ARG with a default",
             dockerfile: "FROM alpine\nARG APP_USER=appuser\nUSER $APP_USER\n", expected: .undetermined(mentioning: "APP_USER")),
        Case(name: "USER ${VAR} from a global ARG redeclared in the stage",
             dockerfile: "ARG APP_USER=appuser\nFROM alpine\nARG APP_USER\nUSER ${APP_USER}\n", expected: .undetermined(mentioning: "APP_USER")),
        Case(name: "USER from an ARG with a default operator",
             dockerfile: "FROM alpine\nARG UID\nUSER ${UID:-1000}\n", expected: .undetermined(mentioning: "UID")),
        Case(name: "ENV made from a build ARG is still the ARG",
             dockerfile: "FROM alpine\nARG NAME=appuser\nENV APP_USER=$NAME\nUSER $APP_USER\n", expected: .undetermined(mentioning: "NAME")),
        Case(name: "USER from ENV with a literal value",
             dockerfile: "FROM alpine\nENV APP_USER=appuser\nUSER $APP_USER\n", expected: .nonRoot("appuser")),
        Case(name: "USER from legacy ENV form and braces",
             dockerfile: "FROM alpine\nENV APP_UID 10001\nUSER ${APP_UID}:${APP_UID}\n", expected: .nonRoot("10001:10001")),
        Case(name: "ENV wins over an ARG of the same name",
             dockerfile: "FROM alpine\nENV APP_USER=appuser\nARG APP_USER=root\nUSER $APP_USER\n", expected: .nonRoot("appuser")),
        Case(name: "ENV carried from a base stage",
             dockerfile: "FROM alpine AS base\nENV APP_USER=\"svc\"\nFROM base\nUSER $APP_USER\n", expected: .nonRoot("svc")),
        Case(name: "ENV of root resolves to root",
             dockerfile: "FROM alpine\nENV RUN_AS=root\nUSER $RUN_AS\n", expected: .root),
        Case(name: "unset variable with a default word",
             dockerfile: "FROM alpine\nUSER ${NOT_SET:-nobody}\n", expected: .nonRoot("nobody")),
        Case(name: "global ARG is not visible in a stage without redeclaration",
             dockerfile: "ARG APP_USER=appuser\nFROM alpine\nUSER $APP_USER\n", expected: .undetermined(mentioning: "expands to nothing")),
        Case(name: "a stage's ARG does not carry into a stage built on it",
             dockerfile: "FROM alpine AS base\nARG U=appuser\nFROM base\nUSER $U\n", expected: .undetermined(mentioning: "expands to nothing")),
        Case(name: "base stage chosen by a build ARG",
             dockerfile: "ARG BASE=hardened\nFROM alpine AS hardened\nUSER appuser\nFROM ${BASE}\n", expected: .undetermined(mentioning: "BASE")),
        Case(name: "build ARG in the base image tag does not matter when USER is set",
             dockerfile: "ARG PY=3.12\nFROM python:${PY}-slim\nUSER appuser\n", expected: .nonRoot("appuser")),
        Case(name: "USER with two values is malformed", dockerfile: "FROM alpine\nUSER app user\n", expected: .undetermined(mentioning: "exactly one")),
        Case(name: "USER with no user before the colon", dockerfile: "FROM alpine\nUSER :1000\n", expected: .undetermined(mentioning: "no user")),
        Case(name: "unterminated substitution", dockerfile: "FROM alpine\nUSER ${APP_USER\n", expected: .undetermined(mentioning: "unterminated")),
        Case(name: "FROM without an image in the final stage", dockerfile: "FROM alpine AS a\nUSER appuser\nFROM\nUSER appuser\n", expected: .undetermined(mentioning: "FROM without an image")),
        Case(name: "FROM without an image in an earlier stage", dockerfile: "FROM\nFROM alpine\nUSER appuser\n", expected: .nonRoot("appuser")),
        Case(name: "empty file", dockerfile: "", expected: .undetermined(mentioning: "no FROM")),
        Case(name: "only comments", dockerfile: "# nothing here\n# USER appuser\n", expected: .undetermined(mentioning: "no FROM")),
    ]

    @Test(arguments: cases)
    func verdict(_ test: Case) {
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
