# api2mcp as a small, static, non-root image that runs on a read-only root
# filesystem. Build: docker build -t api2mcp --build-arg VERSION=$(git describe --always) .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/api2mcp ./cmd/api2mcp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/api2mcp /api2mcp
# No shell, no package manager, nothing to write: the binary keeps all state in
# memory. 65532 is the conventional "nonroot" user.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/api2mcp"]
CMD ["serve", "-c", "/etc/api2mcp/mcp.yaml"]
