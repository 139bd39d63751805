module github.com/claviron/fxruntime/benchmarks

go 1.24

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
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/lithammer/shortuuid/v3 v3.0.7 // indirect
	github.com/oklog/ulid v1.3.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	go.uber.org/dig v1.19.0 // indirect
	go.uber.org/fx v1.24.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	golang.org/x/sys v0.35.0 // indirect
)
