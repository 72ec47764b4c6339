# Multi-stage build: a static, non-root gateway image.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t switchboard .
#   docker run -p 8080:8080 -v $PWD/config:/etc/switchboard switchboard serve --config /etc/switchboard/config.yaml
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/switchboard ./cmd/switchboard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchboard /switchboard
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/config.yaml"]
