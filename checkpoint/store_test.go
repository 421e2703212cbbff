package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asf.db")
	s := openT(t, path, nil)
	st := makeState("job-1", 42, 317, 0)
	st.ConfigDigest = [32]byte{} // the store fills it in
	id, err := s.Save(st)
	if err != nil {
		t.Fatal(err)
	}
	want := *st
	want.ConfigDigest = sha256.Sum256(st.Config)
	got, in, err := s.Load("job-1", id)
	if err != nil {
		t.Fatal(err)
	}
	if err := diffState(&want, got); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if in.ID != id || in.Job != "job-1" || in.Step != 317 || in.Epoch != 3 || in.StepInEpoch != 17 || in.Spec != st.Spec ||
		in.Format != StateFormat || in.Chunks < 2 || in.Saved.IsZero() || diffSummary(in.Metrics, st.Metrics) != nil {
		t.Fatalf("Info = %+v", in)
	}
	enc, _ := EncodeState(st)
	if in.Size != int64(len(enc)) || in.Checksum != sha256.Sum256(enc) {
		t.Fatalf("Info size %d checksum %x, want %d %x", in.Size, in.Checksum[:4], len(enc), sha256.Sum256(enc))
	}
	// Persisted: reopen and load the latest.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path, nil)
	got, in2, err := s.Latest("job-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := diffState(&want, got); err != nil {
		t.Fatalf("Latest after reopen: %v", err)
	}
	if in2.ID != id || in2.Checksum != in.Checksum {
		t.Fatalf("Latest info %+v, want id %d", in2, id)
	}
	// Chunks are at most 1 MiB each.
	err = s.db.View(func(tx *bolt.Tx) error {
		n := 0
		err := tx.Bucket(bucketCkpt).Bucket([]byte("job-1")).Bucket(bucketData).ForEach(func(k, v []byte) error {
			if len(v) > chunkSize {
				t.Errorf("chunk %x is %d bytes", k, len(v))
			}
			n++
			return nil
		})
		if n != in.Chunks {
			t.Errorf("%d chunks stored, index says %d", n, in.Chunks)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRetentionAndPrune(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "asf.db"), nil) // keep last 3, best 1
	accs := []float64{0.90, 0.50, 0.95, 0.60, 0.70, 0.65}
	for i, acc := range accs {
		st := makeState("j", 1, i, 10)
		st.Metrics.TestAcc = acc
		if _, err := s.Save(st); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []uint64 {
		infos, err := s.List("j")
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, in := range infos {
			out = append(out, in.ID)
		}
		return out
	}
	if got, want := ids(), []uint64{3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("after 6 saves kept %v, want %v (last 3 and the best, id 3 at 0.95)", got, want)
	}
	assertNoOrphanChunks(t, s, "j")

	// A corrupt newest checkpoint: pruning to 1 keeps it (it is the last) and the
	// newest one that verifies.
	s.Close()
	editValue(t, s.path, "j", 6, func(v []byte) []byte { v[len(v)/2] ^= 0xff; return v })
	s = openT(t, s.path, nil)
	deleted, err := s.Prune("j", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(), []uint64{5, 6}; !slices.Equal(got, want) || !slices.Equal(deleted, []uint64{3, 4}) {
		t.Fatalf("prune(1,0) kept %v deleted %v, want kept %v", got, deleted, want)
	}
	assertNoOrphanChunks(t, s, "j")
	if _, err := s.Prune("j", 0, 0); !errors.Is(err, ErrOptions) {
		t.Fatalf("Prune keep-last 0: %v", err)
	}
	if _, err := s.Prune("nope", 1, 0); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("Prune unknown job: %v", err)
	}
}

func assertNoOrphanChunks(t *testing.T, s *Store, job string) {
	t.Helper()
	infos, err := s.List(job)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	live := map[uint64]bool{}
	for _, in := range infos {
		want += in.Chunks
		live[in.ID] = true
	}
	got := 0
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCkpt).Bucket([]byte(job)).Bucket(bucketData).ForEach(func(k, _ []byte) error {
			got++
			if !live[binary.BigEndian.Uint64(k)] {
				t.Errorf("chunk %x of a deleted checkpoint left behind", k)
			}
			return nil
		})
	})
	if err != nil || got != want {
		t.Fatalf("%d chunks stored, index accounts for %d (%v)", got, want, err)
	}
}

// editValue rewrites a stored chunk (the middle one) of a checkpoint directly in
// the bbolt file.
func editValue(t *testing.T, path, job string, id uint64, edit func([]byte) []byte) {
	t.Helper()
	editRaw(t, path, func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketCkpt).Bucket([]byte(job)).Bucket(bucketData)
		var keys [][]byte
		c := data.Cursor()
		for k, _ := c.Seek(u64key(id)); k != nil && bytes.HasPrefix(k, u64key(id)); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		if len(keys) == 0 {
			t.Fatalf("checkpoint %d has no chunks", id)
		}
		k := keys[len(keys)/2]
		v := edit(bytes.Clone(data.Get(k)))
		if v == nil {
			return data.Delete(k)
		}
		return data.Put(k, v)
	})
}

func editIndex(t *testing.T, path, job string, id uint64, edit func([]byte) []byte) {
	t.Helper()
	editRaw(t, path, func(tx *bolt.Tx) error {
		idx := tx.Bucket(bucketCkpt).Bucket([]byte(job)).Bucket(bucketIndex)
		return idx.Put(u64key(id), edit(bytes.Clone(idx.Get(u64key(id)))))
	})
}

func editRaw(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptionFallsBack(t *testing.T) {
	const fcIn = 600 // about 1.8 MB a checkpoint: 2 chunks
	var states []*State
	for i := range 3 {
		states = append(states, makeState("j", 9, 10*i, fcIn))
	}
	for _, tc := range []struct {
		name string
		hurt func(t *testing.T, path string, newest *State)
		want string
	}{
		{"flip byte in chunk", func(t *testing.T, p string, _ *State) {
			editValue(t, p, "j", 3, func(v []byte) []byte { v[100] ^= 0x01; return v })
		}, "checksum mismatch"},
		{"delete chunk", func(t *testing.T, p string, _ *State) {
			editValue(t, p, "j", 3, func([]byte) []byte { return nil })
		}, "found 1 chunks"},
		{"truncate chunk", func(t *testing.T, p string, _ *State) {
			editValue(t, p, "j", 3, func(v []byte) []byte { return v[:len(v)-3] })
		}, "bytes, found 2 chunks of"},
		{"flip checksum in index", func(t *testing.T, p string, _ *State) {
			editIndex(t, p, "j", 3, func(v []byte) []byte {
				in, err := decodeInfo(v, "j", 3)
				if err != nil {
					t.Fatal(err)
				}
				in.Checksum[7] ^= 0x80
				return encodeInfo(&in)
			})
		}, "checksum mismatch"},
		{"garbage index", func(t *testing.T, p string, _ *State) {
			editIndex(t, p, "j", 3, func([]byte) []byte { return []byte("garbage") })
		}, "magic"},
		{"flip byte in raw file", func(t *testing.T, p string, newest *State) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			pattern := appendFloat32s(nil, newest.Weights[2].Data[5000:5004])
			n := bytes.Count(raw, pattern)
			if n == 0 {
				t.Fatal("pattern of the newest checkpoint not found in the file")
			}
			for i := bytes.Index(raw, pattern); i >= 0; i = bytes.Index(raw, pattern) {
				raw[i+5] ^= 0x10
			}
			if err := os.WriteFile(p, raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "asf.db")
			s := openT(t, path, nil)
			for _, st := range states {
				if _, err := s.Save(st); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			tc.hurt(t, path, states[2])

			var logBuf bytes.Buffer
			s = openT(t, path, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logBuf, nil)) })
			res, err := s.Verify("j")
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 3 || !res[0].OK() || !res[1].OK() || res[2].OK() || res[2].ID != 3 {
				t.Fatalf("Verify = %+v, want 1 and 2 good, 3 corrupt", res)
			}
			if !errors.Is(res[2].Err, ErrCorrupt) || !strings.Contains(res[2].Err.Error(), tc.want) {
				t.Fatalf("Verify error %v, want ErrCorrupt mentioning %q", res[2].Err, tc.want)
			}
			got, in, err := s.Latest("j")
			if err != nil {
				t.Fatal(err)
			}
			if in.ID != 2 {
				t.Fatalf("Latest gave id %d, want the previous one, 2", in.ID)
			}
			if err := diffState(states[1], got); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logBuf.String(), "id=3") {
				t.Fatalf("the skipped checkpoint is not logged: %q", logBuf.String())
			}
			if _, _, err := s.Load("j", 3); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load(3) = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestLatestNoneValid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asf.db")
	s := openT(t, path, nil)
	if err := s.PutJob("empty", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Latest("empty"); !errors.Is(err, ErrNoCheckpoint) || !strings.Contains(err.Error(), "no checkpoints") {
		t.Fatalf("Latest of a job without checkpoints: %v", err)
	}
	if _, err := s.Save(makeState("j", 1, 1, 10)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	editValue(t, path, "j", 1, func(v []byte) []byte { v[0] ^= 1; return v })
	s = openT(t, path, nil)
	if _, _, err := s.Latest("j"); !errors.Is(err, ErrNoCheckpoint) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Latest with every checkpoint corrupt: %v", err)
	}
	_, _, err := s.Latest("missing")
	if !errors.Is(err, ErrJobNotFound) || !strings.Contains(err.Error(), `"missing"`) || !strings.Contains(err.Error(), "empty, j") {
		t.Fatalf("Latest of an unknown job: %v", err)
	}
	if _, _, err := s.Load("j", 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of a missing id: %v", err)
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "asf.db"), nil)
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutJob("j", []byte(`{"a":1}`)); err != nil {
			return err
		}
		if _, err := tx.Save(makeState("j", 1, 1, 10)); err != nil {
			return err
		}
		if err := tx.AppendMetrics(MetricPoint{Job: "j", Step: 1}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if jobs, _ := s.Jobs(); len(jobs) != 0 {
		t.Fatalf("a rolled back Update left jobs %v", jobs)
	}
	// The same, committed.
	err = s.Update(func(tx *Tx) error {
		if _, err := tx.Save(makeState("j", 1, 1, 10)); err != nil {
			return err
		}
		return tx.AppendMetrics(MetricPoint{Job: "j", Step: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Latest("j"); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error { _, err := tx.Save(makeState("j", 1, 2, 10)); return err }); err == nil ||
		!strings.Contains(err.Error(), "read-only transaction") {
		t.Fatalf("Save in View: %v", err)
	}
}

func TestJobsAndMetrics(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "asf.db"), nil)
	cfg := []byte(`{"spec":"20C5-P2-50C5-P2-200FC-10FC","epochs":125}`)
	if err := s.PutJob("b", cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob("a", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob("c", []byte(`{not json`)); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("PutJob with bad JSON: %v", err)
	}
	if err := s.PutJob("", cfg); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("PutJob with empty id: %v", err)
	}
	got, err := s.Job("b")
	if err != nil || string(got) != string(cfg) {
		t.Fatalf("Job(b) = %q, %v", got, err)
	}
	if _, err := s.Job("zz"); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("Job(zz): %v", err)
	}
	pts := []MetricPoint{
		{Job: "b", Kind: "step", Epoch: 0, Step: 1, Time: time.Unix(1, 2).UTC(), Loss: math.NaN(), Acc: 0.1, SamplesPerSec: 900, LR: 1e-3, Workers: 3, Generation: 2},
		{Job: "b", Kind: "epoch", Epoch: 0, Step: 938, Time: time.Unix(3, 4).UTC(), Loss: 0.2, Acc: 0.97, TestAcc: 0.98, HasTest: true, SamplesPerSec: 1000, LR: 1e-3, Workers: 4, Generation: 3},
	}
	if err := s.AppendMetrics(pts[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendMetrics(pts[1], MetricPoint{Job: "d", Step: 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendMetrics(MetricPoint{Job: "b", Step: -1}); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("negative step: %v", err)
	}
	back, err := s.Metrics("b")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 {
		t.Fatalf("got %d points", len(back))
	}
	for i := range pts {
		a, b := pts[i], back[i]
		if math.Float64bits(a.Loss) != math.Float64bits(b.Loss) || !a.Time.Equal(b.Time) {
			t.Fatalf("point %d: %+v != %+v", i, b, a)
		}
		a.Loss, b.Loss, a.Time, b.Time = 0, 0, time.Time{}, time.Time{}
		if a != b {
			t.Fatalf("point %d: %+v != %+v", i, b, a)
		}
	}
	jobs, err := s.Jobs()
	if err != nil || !slices.Equal(jobs, []string{"a", "b", "d"}) {
		t.Fatalf("Jobs = %v, %v", jobs, err)
	}
	if pts, err := s.Metrics("a"); err != nil || len(pts) != 0 {
		t.Fatalf("Metrics(a) = %v, %v", pts, err)
	}
	if _, err := s.Metrics("zz"); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("Metrics(zz): %v", err)
	}
}

func fileDigest(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestOpenBadInput(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 9000)...)
	for _, tc := range []struct {
		name    string
		make    func(t *testing.T, path string)
		opts    func(*Options)
		want    error
		message string
	}{
		{"text file", func(t *testing.T, p string) { os.WriteFile(p, []byte("hello, world\n"), 0o600) }, nil, ErrNotStore, "not a bbolt file"},
		{"png", func(t *testing.T, p string) { os.WriteFile(p, png, 0o600) }, nil, ErrNotStore, "PNG"},
		{"zeros", func(t *testing.T, p string) { os.WriteFile(p, make([]byte, 16384), 0o600) }, nil, ErrNotStore, "not a bbolt file"},
		{"other program's bbolt", func(t *testing.T, p string) {
			editRaw(t, p, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("users"))
				if err != nil {
					return err
				}
				return b.Put([]byte("alice"), []byte("x"))
			})
		}, nil, ErrNotStore, `another program (buckets "users"`},
		{"store version 99", func(t *testing.T, p string) {
			s, err := Open(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(makeState("j", 1, 1, 10)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			editRaw(t, p, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keyFormat, sealCRC(binary.LittleEndian.AppendUint32(nil, 99)))
			})
		}, nil, ErrVersion, "store format version 99 found, this build reads version 1"},
		{"empty file read-only", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) }, func(o *Options) { o.ReadOnly = true }, ErrNotStore, "is empty"},
		{"missing read-only", func(t *testing.T, p string) {}, func(o *Options) { o.ReadOnly = true }, fs.ErrNotExist, "does not exist"},
		{"directory", func(t *testing.T, p string) { os.Mkdir(p, 0o700) }, nil, ErrNotStore, "is a directory"},
		{"bad options", func(t *testing.T, p string) {}, func(o *Options) { o.Timeout = 0 }, ErrOptions, "Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "asf.db")
			tc.make(t, path)
			fi, statErr := os.Stat(path)
			var before [32]byte
			if statErr == nil && !fi.IsDir() {
				before = fileDigest(t, path)
			}
			o := DefaultOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			s, err := Open(path, &o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.message)
			}
			if tc.want != ErrOptions && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			_, statErr2 := os.Stat(path)
			switch {
			case statErr != nil && statErr2 == nil:
				t.Fatalf("Open created %s", path)
			case statErr == nil && !fi.IsDir() && fileDigest(t, path) != before:
				t.Fatalf("Open changed %s", path)
			}
		})
	}
}

func TestCheckpointFormatVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asf.db")
	s := openT(t, path, nil)
	st := makeState("j", 1, 1, 10)
	if _, err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Checkpoint 1: index says state format 2. Checkpoint 2: the state bytes say
	// version 2 and the checksum matches them.
	editIndex(t, path, "j", 1, func(v []byte) []byte {
		in, err := decodeInfo(v, "j", 1)
		if err != nil {
			t.Fatal(err)
		}
		in.Format = 2
		return encodeInfo(&in)
	})
	editRaw(t, path, func(tx *bolt.Tx) error {
		jb := tx.Bucket(bucketCkpt).Bucket([]byte("j"))
		k := chunkKey(2, 0)
		v := bytes.Clone(jb.Bucket(bucketData).Get(k))
		binary.LittleEndian.PutUint32(v[8:], 2)
		if err := jb.Bucket(bucketData).Put(k, v); err != nil {
			return err
		}
		in, err := decodeInfo(jb.Bucket(bucketIndex).Get(u64key(2)), "j", 2)
		if err != nil {
			return err
		}
		in.Checksum = sha256.Sum256(v) // one chunk: the state is small
		return jb.Bucket(bucketIndex).Put(u64key(2), encodeInfo(&in))
	})
	before := fileDigest(t, path)
	s = openT(t, path, func(o *Options) { o.ReadOnly = true })
	for id := uint64(1); id <= 2; id++ {
		_, _, err := s.Load("j", id)
		if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "version 2 found, this build reads version 1") {
			t.Fatalf("Load(%d): %v, want ErrVersion naming both versions", id, err)
		}
	}
	if _, _, err := s.Latest("j"); !errors.Is(err, ErrNoCheckpoint) || !errors.Is(err, ErrVersion) {
		t.Fatalf("Latest: %v", err)
	}
	s.Close()
	if fileDigest(t, path) != before {
		t.Fatal("reading changed the file")
	}
}

func TestLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asf.db")
	s := openT(t, path, nil)
	o := DefaultOptions()
	o.Timeout = 200 * time.Millisecond
	s2, err := Open(path, &o)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another process holds the file") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("lock error: %v", err)
	// Read-only opens are refused too while a writer holds the file.
	o.ReadOnly = true
	if _, err := Open(path, &o); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only Open of a held file: %v", err)
	}
	// Released: it opens.
	s.Close()
	o.ReadOnly = false
	s2, err = Open(path, &o)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asf.db")
	s := openT(t, path, nil)
	if _, err := s.Save(makeState("j", 1, 1, 10)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before := fileDigest(t, path)
	r1 := openT(t, path, func(o *Options) { o.ReadOnly = true })
	r2 := openT(t, path, func(o *Options) { o.ReadOnly = true }) // shared lock
	if _, _, err := r2.Latest("j"); err != nil {
		t.Fatal(err)
	}
	if _, err := r1.Save(makeState("j", 1, 2, 10)); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Save on a read-only store: %v", err)
	}
	if _, err := r1.Check(); err != nil {
		t.Fatal(err)
	}
	r1.Close()
	r2.Close()
	if fileDigest(t, path) != before {
		t.Fatal("read-only use changed the file")
	}
}

func TestHotBackup(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, filepath.Join(dir, "asf.db"), func(o *Options) { o.KeepLast = 4 })
	if _, err := s.Save(makeState("j", 3, 0, 300)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var saveErr error
	wg.Go(func() {
		for i := 1; i <= 8; i++ {
			if _, err := s.Save(makeState("j", 3, i, 300)); err != nil {
				saveErr = err
				return
			}
		}
	})
	for i := range 3 {
		bp := filepath.Join(dir, "backup.db")
		if err := s.BackupTo(bp); err != nil {
			t.Fatal(err)
		}
		b, err := Open(bp, &Options{Timeout: time.Second, KeepLast: 1, ReadOnly: true})
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		if _, err := b.Check(); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		res, err := b.Verify("")
		if err != nil || len(res) == 0 {
			t.Fatalf("backup %d: %v, %d results", i, err, len(res))
		}
		for _, r := range res {
			if !r.OK() {
				t.Fatalf("backup %d: checkpoint %d: %v", i, r.ID, r.Err)
			}
		}
		st, _, err := b.Latest("j")
		if err != nil {
			t.Fatal(err)
		}
		if err := diffState(makeState("j", 3, st.Step, 300), st); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		b.Close()
	}
	wg.Wait()
	if saveErr != nil {
		t.Fatal(saveErr)
	}
	if err := s.BackupTo(s.Path()); err == nil || !strings.Contains(err.Error(), "the store itself") {
		t.Fatalf("backup onto the store: %v", err)
	}
	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v (%d bytes)", n, err, buf.Len())
	}
}
