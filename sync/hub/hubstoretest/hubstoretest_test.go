package hubstoretest_test

import (
	"context"
	"testing"

	"wedge/internal/testpg"
	"wedge/sync/hub"
	"wedge/sync/hub/hubstoretest"
	"wedge/sync/hub/pgstore"
)

func TestBolt(t *testing.T) {
	hubstoretest.Run(t, hubstoretest.Factory{New: func(t *testing.T) hub.Store {
		s, err := hub.OpenBolt(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}})
}

func TestPostgres(t *testing.T) {
	srv := testpg.Start(t)
	dsns := map[hub.Store]string{}
	open := func(t *testing.T, dsn string) hub.Store {
		s, err := pgstore.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		dsns[s] = dsn
		return s
	}
	hubstoretest.Run(t, hubstoretest.Factory{
		New: func(t *testing.T) hub.Store {
			dsn := srv.NewDatabase(t)
			if _, _, err := pgstore.Migrate(context.Background(), dsn); err != nil {
				t.Fatal(err)
			}
			return open(t, dsn)
		},
		Reopen: func(t *testing.T, s hub.Store) hub.Store { return open(t, dsns[s]) },
	})
}
