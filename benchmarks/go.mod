module github.com/claviron/fxruntime/benchmarks

go 1.26.6

replace github.com/claviron/fxruntime => ../

require (
	github.com/ThreeDotsLabs/watermill v1.5.1
	github.com/asaskevich/EventBus v0.0.0-20200907212545-49d423059eef
	github.com/claviron/fxruntime v0.0.0-00010101000000-000000000000
	github.com/cskr/pubsub/v2 v2.0.2
	github.com/gookit/event v1.1.2
	github.com/kelindar/event v1.5.2
	github.com/leandro-lugaresi/hub v1.1.1
	github.com/mustafaturan/bus/v3 v3.0.3
	github.com/olebedev/emitter v0.0.0-20230411050614-349169dec2ba
	go.uber.org/fx v1.24.0
	tailscale.com v1.102.5
)

require (
	github.com/coder/websocket v1.8.14 // indirect
	github.com/go-json-experiment/json v0.0.0-20260214004413-d219187c3433 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/lithammer/shortuuid/v3 v3.0.7 // indirect
	github.com/oklog/ulid v1.3.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	go.uber.org/dig v1.19.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	go4.org/mem v0.0.0-20240501181205-ae6ca9944745 // indirect
	go4.org/netipx v0.0.0-20231129151722-fdeea329fbba // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/exp v0.0.0-20260410095643-746e56fc9e2f // indirect
	golang.org/x/sys v0.47.0 // indirect
)
