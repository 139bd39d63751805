package durable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig declares a stream: the part of jetstream.StreamConfig that
// decides what is stored and for how long. [EnsureStream] creates the
// stream from it, or checks that the existing stream has it.
type StreamConfig struct {
	// Name is the stream's name; required.
	Name string
	// Subjects are the subjects the stream stores; required to create a
	// stream. Wildcards allowed.
	Subjects []string
	// Retention is how messages leave the stream: by limits (the
	// default), once every consumer has acknowledged them (interest), or
	// once one has (work queue).
	Retention jetstream.RetentionPolicy
	// Storage is file (the default) or memory. Memory storage does not
	// survive a server restart.
	Storage jetstream.StorageType
	// Duplicates is the window in which a message ID seen before makes a
	// publish a duplicate, stored once. 0 means the server's default (2
	// minutes).
	Duplicates time.Duration
	// Replicas is the number of copies in a cluster; 0 means 1.
	Replicas int
	// MaxAge bounds how long messages are kept; 0 means forever.
	MaxAge time.Duration
}

// MismatchError reports a stream or consumer that exists with another
// configuration than the declared one. Nothing was changed on the server:
// change the declaration, or change the stream or consumer on purpose
// (with the nats CLI or jetstream.JetStream.UpdateStream).
type MismatchError struct {
	// Kind is "stream" or "consumer"; Name is its name.
	Kind, Name string
	// Field is the configuration field that differs, as named in
	// [StreamConfig] or [ConsumerConfig].
	Field string
	// Declared and Existing are the two values.
	Declared, Existing any
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("durable: %s %q exists with %s = %v, declared %v; nothing was changed",
		e.Kind, e.Name, e.Field, e.Existing, e.Declared)
}

// ErrStreamNotFound is returned by [BindStream] for a stream that does not
// exist.
var ErrStreamNotFound = errors.New("durable: stream not found")

// BindStream returns the existing stream name, or an error wrapping
// [ErrStreamNotFound].
func BindStream(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	if name == "" {
		return nil, errors.New("durable: stream name is empty")
	}
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrStreamNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("durable: stream %q: %w", name, err)
	}
	return s, nil
}

// EnsureStream creates the stream declared by cfg, or binds to it if it
// exists with the same configuration. If it exists with another value of
// one of cfg's fields, it fails with a [*MismatchError] naming the field,
// and changes nothing. Fields of the stream that cfg does not declare
// (limits, placement, and so on) are not checked.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	want := cfg.jetstream()
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Created by another replica meanwhile: check it as ours.
			s, err = js.Stream(ctx, cfg.Name)
		} else if err == nil {
			return s, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("durable: stream %q: %w", cfg.Name, err)
	}
	if err := cfg.compare(s.CachedInfo().Config); err != nil {
		return nil, err
	}
	return s, nil
}

func (cfg StreamConfig) validate() error {
	switch {
	case cfg.Name == "":
		return errors.New("durable: StreamConfig.Name is empty")
	case len(cfg.Subjects) == 0:
		return fmt.Errorf("durable: stream %q: StreamConfig.Subjects is empty; a stream stores at least one subject", cfg.Name)
	case cfg.Duplicates < 0 || cfg.MaxAge < 0 || cfg.Replicas < 0:
		return fmt.Errorf("durable: stream %q: negative Duplicates (%v), MaxAge (%v) or Replicas (%d)",
			cfg.Name, cfg.Duplicates, cfg.MaxAge, cfg.Replicas)
	}
	for _, s := range cfg.Subjects {
		if s == "" {
			return fmt.Errorf("durable: stream %q: empty subject in %q", cfg.Name, cfg.Subjects)
		}
	}
	return nil
}

func (cfg StreamConfig) jetstream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       cfg.Name,
		Subjects:   cfg.Subjects,
		Retention:  cfg.Retention,
		Storage:    cfg.Storage,
		Duplicates: cfg.Duplicates,
		Replicas:   max(cfg.Replicas, 1),
		MaxAge:     cfg.MaxAge,
	}
}

// defaultDuplicates is the server's duplicate window when none is set.
const defaultDuplicates = 2 * time.Minute

func (cfg StreamConfig) compare(have jetstream.StreamConfig) error {
	mismatch := func(field string, declared, existing any) error {
		return &MismatchError{Kind: "stream", Name: cfg.Name, Field: field, Declared: declared, Existing: existing}
	}
	if !slices.Equal(cfg.Subjects, have.Subjects) {
		return mismatch("Subjects", cfg.Subjects, have.Subjects)
	}
	if cfg.Retention != have.Retention {
		return mismatch("Retention", cfg.Retention, have.Retention)
	}
	if cfg.Storage != have.Storage {
		return mismatch("Storage", cfg.Storage, have.Storage)
	}
	dup := cfg.Duplicates
	if dup == 0 {
		dup = min(defaultDuplicates, have.MaxAge)
		if have.MaxAge == 0 {
			dup = defaultDuplicates
		}
	}
	if dup != have.Duplicates {
		return mismatch("Duplicates", cfg.Duplicates, have.Duplicates)
	}
	if max(cfg.Replicas, 1) != max(have.Replicas, 1) {
		return mismatch("Replicas", max(cfg.Replicas, 1), have.Replicas)
	}
	if cfg.MaxAge != have.MaxAge {
		return mismatch("MaxAge", cfg.MaxAge, have.MaxAge)
	}
	return nil
}
