package fxbus_test

import (
	"strings"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
)

func TestNewOptions(t *testing.T) {
	tests := []struct {
		desc    string
		give    []fxbus.Option
		want    int
		wantErr string
	}{
		{desc: "default", want: fxbus.DefaultCapacity},
		{desc: "one", give: []fxbus.Option{fxbus.WithCapacity(1)}, want: 1},
		{desc: "max", give: []fxbus.Option{fxbus.WithCapacity(fxbus.MaxCapacity)}, want: fxbus.MaxCapacity},
		{desc: "zero", give: []fxbus.Option{fxbus.WithCapacity(0)}, wantErr: "capacity 0 is out of range: want 1 to 1048576"},
		{desc: "negative", give: []fxbus.Option{fxbus.WithCapacity(-3)}, wantErr: "capacity -3 is out of range"},
		{desc: "too large", give: []fxbus.Option{fxbus.WithCapacity(fxbus.MaxCapacity + 1)}, wantErr: "capacity 1048577 is out of range"},
		{desc: "nil logger", give: []fxbus.Option{fxbus.WithLogger(nil)}, want: fxbus.DefaultCapacity},
		{desc: "nil option", give: []fxbus.Option{nil}, want: fxbus.DefaultCapacity},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b, err := fxbus.New(tt.give...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := b.Capacity(); got != tt.want {
				t.Errorf("Capacity() = %d, want %d", got, tt.want)
			}
			if b.Logger() == nil {
				t.Error("Logger() = nil")
			}
		})
	}

	t.Run("invalid capacity is an error naming the value", func(t *testing.T) {
		for _, tt := range []struct {
			desc string
			give int
			want string
		}{
			{desc: "zero", give: 0, want: "0"},
			{desc: "negative", give: -3, want: "-3"},
		} {
			t.Run(tt.desc, func(t *testing.T) {
				b, err := fxbus.New(fxbus.WithCapacity(tt.give))
				if err == nil {
					if b != nil {
						b.Close()
					}
					t.Fatalf("New(WithCapacity(%d)) succeeded, want an error", tt.give)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("New(WithCapacity(%d)) error %q does not name the value %q", tt.give, err, tt.want)
				}
			})
		}
	})

	t.Run("default capacity is 64", func(t *testing.T) {
		assertCapacity(t, newTestBus(t), 64)
	})

	t.Run("nil logger is accepted", func(t *testing.T) {
		b := newTestBus(t, fxbus.WithLogger(nil))
		s := fxbus.Subscribe[int](b)
		defer s.Close()
		if n := fxbus.Emit(b, 1); n != 1 {
			t.Fatalf("Emit = %d, want 1", n)
		}
	})
}
