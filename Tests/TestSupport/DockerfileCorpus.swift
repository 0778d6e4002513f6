/// Dockerfiles with the verdict the page's container rule gives each (the final stage's user):
/// the reference's rule and the checker's own reading are both tested against them.
public enum DockerfileCorpus {
    public struct Case: Sendable, CustomStringConvertible {
        public var name: String
        public var dockerfile: String
        public var expected: Expected
        public var description: String { name }
    }

    public enum Expected: Sendable {
        case nonRoot(String)
        case root
        case undetermined(mentioning: String)
    }

    public static let cases: [Case] = [
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
}
