package postgres_test

import (
	"testing"

	"github.com/herald-notify/herald/internal/store"
	"github.com/herald-notify/herald/internal/store/postgres/pgtest"
	"github.com/herald-notify/herald/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return pgtest.Open(t) })
}
