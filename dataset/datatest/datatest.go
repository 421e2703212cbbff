// Package datatest writes small data sets in the real file formats that package
// dataset reads, for tests that need files on disk (the real data sets are not on
// every machine). The contents are deterministic and class-dependent, so that a
// network can learn a little from them.
package datatest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// IDX writes dir/<name>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz holding
// nTrain and nTest images of 28x28 (label i % 10; pixels brighter in a band that
// depends on the label), as mnist and fashion-mnist are laid out.
func IDX(dir, name string, nTrain, nTest int) error {
	d := filepath.Join(dir, name)
	for _, sp := range []struct {
		prefix string
		n      int
	}{{"train", nTrain}, {"t10k", nTest}} {
		var img, lab bytes.Buffer
		binary.Write(&img, binary.BigEndian, []uint32{0x00000803, uint32(sp.n), 28, 28})
		binary.Write(&lab, binary.BigEndian, []uint32{0x00000801, uint32(sp.n)})
		for i := range sp.n {
			c := i % 10
			for p := range 28 * 28 {
				v := byte((i*13 + p*7) % 64)
				if (p/28)/3 == c {
					v = 200 + byte(p%50)
				}
				img.WriteByte(v)
			}
			lab.WriteByte(byte(c))
		}
		if err := writeGzip(filepath.Join(d, sp.prefix+"-images-idx3-ubyte.gz"), img.Bytes()); err != nil {
			return err
		}
		if err := writeGzip(filepath.Join(d, sp.prefix+"-labels-idx1-ubyte.gz"), lab.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// CIFAR10 writes dir/cifar10/data_batch_1..5.bin with perBatch records each and
// test_batch.bin with nTest records (label i % 10; the red plane brighter in a band
// that depends on the label).
func CIFAR10(dir string, perBatch, nTest int) error {
	d := filepath.Join(dir, "cifar10")
	records := func(n, salt int) []byte {
		var b []byte
		for i := range n {
			c := i % 10
			b = append(b, byte(c))
			for j := range 3 * 1024 {
				v := byte((i*31 + j*5 + salt) % 128)
				if j < 1024 && (j/32)/3 == c {
					v = 250
				}
				b = append(b, v)
			}
		}
		return b
	}
	for k := 1; k <= 5; k++ {
		if err := writeFile(filepath.Join(d, fmt.Sprintf("data_batch_%d.bin", k)), records(perBatch, k)); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(d, "test_batch.bin"), records(nTest, 0))
}

// CIFAR10DVSClasses are the class folder names of the release, in label order.
var CIFAR10DVSClasses = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// AEDAT2Event is one event to encode in an AEDAT 2.0 file: the raw sensor address
// fields (X, Y in 0..127, polarity bit: 0 = ON) and the time stamp.
type AEDAT2Event struct {
	X, Y, PolBit uint32
	T            uint32
}

// AEDAT2 encodes a jAER AEDAT 2.0 file: the '#' header lines (CRLF, as jAER writes
// them), then per event a big-endian u32 address (bit 0 polarity, bits 1-7 x, bits
// 8-14 y) and a big-endian u32 time stamp.
func AEDAT2(evs []AEDAT2Event) []byte {
	var b bytes.Buffer
	b.WriteString("#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n# Timestamps tick is 1 us\r\n")
	for _, e := range evs {
		binary.Write(&b, binary.BigEndian, e.PolBit&1|(e.X&0x7f)<<1|(e.Y&0x7f)<<8)
		binary.Write(&b, binary.BigEndian, e.T)
	}
	return b.Bytes()
}

// CIFAR10DVS writes dir/cifar10dvs/<class>/cifar10_<class>_<i>.aedat for i <
// perClass: recording i of class c has 20 events at sensor row-band c, time stamps
// spread over 1 ms, both polarities.
func CIFAR10DVS(dir string, perClass int) error {
	for c, class := range CIFAR10DVSClasses {
		for i := range perClass {
			var evs []AEDAT2Event
			for k := range 20 {
				evs = append(evs, AEDAT2Event{X: uint32(10*c + k%8), Y: uint32((i*7 + k*11) % 128), PolBit: uint32(k % 2), T: uint32(1000 + 50*k + i)})
			}
			p := filepath.Join(dir, "cifar10dvs", class, fmt.Sprintf("cifar10_%s_%d.aedat", class, i))
			if err := writeFile(p, AEDAT2(evs)); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeGzip(path string, data []byte) error {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return writeFile(path, b.Bytes())
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// AEDAT3Event is one polarity event to encode in an AEDAT 3.1 file.
type AEDAT3Event struct {
	X, Y  uint32 // 0..127
	On    bool
	Valid bool
	T     int64 // microseconds; bit 31 and above go to the packet's overflow field
}

// AEDAT3 encodes an AEDAT 3.1 file: the header lines ending with "#!END-HEADER",
// then one polarity packet (type 1, 8-byte events) per slice of packets, and a
// special-event packet (type 0) before them, which readers skip.
func AEDAT3(packets ...[]AEDAT3Event) []byte {
	var b bytes.Buffer
	b.WriteString("#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n")
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	// A special-event packet: type 0, two 8-byte events.
	le([]uint16{0, 1})
	le([]uint32{8, 4, 0, 2, 2, 2})
	le([]uint32{0, 0, 0, 0})
	for _, p := range packets {
		var overflow uint32
		if len(p) > 0 {
			overflow = uint32(p[0].T >> 31)
		}
		le([]uint16{1, 1})
		le([]uint32{8, 4, overflow, uint32(len(p)), uint32(len(p)), uint32(len(p))})
		for _, e := range p {
			addr := e.X<<17 | e.Y<<2
			if e.On {
				addr |= 2
			}
			if e.Valid {
				addr |= 1
			}
			le([]uint32{addr, uint32(e.T & 0x7fffffff)})
		}
	}
	return b.Bytes()
}

// Gesture writes a DVS128 Gesture release under dir/dvs-gesture/DvsGesture: trials
// user01..user<nTrain> in trials_to_train.txt and the next nTest in
// trials_to_test.txt, each a two-packet AEDAT 3.1 recording with a _labels.csv of
// three gestures (classes 1 + (trial+k) % 11), each gesture 10 valid events (and one
// invalid) at a class-dependent row.
func Gesture(dir string, nTrain, nTest int) error {
	root := filepath.Join(dir, "dvs-gesture", "DvsGesture")
	var train, test bytes.Buffer
	for u := range nTrain + nTest {
		name := fmt.Sprintf("user%02d_lab.aedat", u+1)
		if u < nTrain {
			fmt.Fprintln(&train, name)
		} else {
			fmt.Fprintln(&test, name)
		}
		labels := "class,startTime_usec,endTime_usec\r\n"
		var p1, p2 []AEDAT3Event
		for k := range 3 {
			class := 1 + (u+k)%11
			start := int64(1_000_000 * (k + 1))
			labels += fmt.Sprintf("%d,%d,%d\r\n", class, start, start+500_000)
			for i := range 10 {
				e := AEDAT3Event{X: uint32(i * 12), Y: uint32(class * 10), On: i%2 == 0, Valid: true, T: start + int64(40_000*i)}
				if i < 5 {
					p1 = append(p1, e)
				} else {
					p2 = append(p2, e)
				}
			}
			p2 = append(p2, AEDAT3Event{X: 127, Y: 127, T: start + 1})
		}
		if err := writeFile(filepath.Join(root, name), AEDAT3(p1, p2)); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(root, fmt.Sprintf("user%02d_lab_labels.csv", u+1)), []byte(labels)); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(root, "trials_to_train.txt"), train.Bytes()); err != nil {
		return err
	}
	return writeFile(filepath.Join(root, "trials_to_test.txt"), test.Bytes())
}
