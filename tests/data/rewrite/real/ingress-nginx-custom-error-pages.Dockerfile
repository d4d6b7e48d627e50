# Excerpt of kubernetes/ingress-nginx images/custom-error-pages/rootfs/Dockerfile
# (commit dbb11b92ddb77bee9c35e462479129354c84f939, Apache-2.0; licence header cut): an ARG with
# no default used in a FROM, then a plain FROM and COPY --from a stage.
ARG GOLANG_VERSION

FROM golang:${GOLANG_VERSION}-alpine3.23 AS builder

RUN apk update \
    && apk upgrade && apk add git

WORKDIR /go/src/k8s.io/ingress-nginx/images/custom-error-pages

COPY . .

RUN go get . && \
    CGO_ENABLED=0 go build -a -installsuffix cgo \
	-ldflags "-s -w" \
	-o nginx-errors .

FROM gcr.io/distroless/static:nonroot

COPY --from=builder /go/src/k8s.io/ingress-nginx/images/custom-error-pages/nginx-errors /
COPY --from=builder /go/src/k8s.io/ingress-nginx/images/custom-error-pages/www /www
COPY --from=builder /go/src/k8s.io/ingress-nginx/images/custom-error-pages/etc /etc
USER nonroot:nonroot

CMD ["/nginx-errors"]
