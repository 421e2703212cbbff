package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSpec is returned (wrapped) for a network spec that cannot be parsed or built.
var ErrSpec = errors.New("engine: bad network spec")

// Kind is the type of one layer of a network spec.
type Kind int

// The layer kinds of the paper's notation.
const (
	Conv    Kind = iota // "20C5": convolution, 20 output channels, 5x5 kernel, stride 1, same padding; "20C5s2p1": stride 2, padding 1
	AvgPool             // "P2": 2x2 average pooling followed by pooling neurons
	MaxPool             // "MP2": 2x2 max pooling of spikes, no neurons
	FC                  // "200FC": fully connected layer with 200 outputs
)

func (k Kind) String() string {
	switch k {
	case Conv:
		return "conv"
	case AvgPool:
		return "avgpool"
	case MaxPool:
		return "maxpool"
	case FC:
		return "fc"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Token is one parsed element of a spec such as "20C5" or "P2".
type Token struct {
	Kind Kind
	N    int // output channels (Conv) or units (FC); 0 for pooling
	K    int // kernel size (Conv) or pool size (pooling); 0 for FC
	// Conv only: Stride (0 or 1: stride 1) and, when HasPad, the zero padding
	// Pad on every side; without it the padding is K/2 ("same" for odd K).
	Stride int
	Pad    int
	HasPad bool
	Bias   bool // Conv and FC: a trained bias per output channel ("b" suffix: 20C5b, 200FCb)
	Text   string
	Pos    int // byte offset in the spec string
}

// Spec is a parsed network description in the paper's notation, e.g.
// "20C5-P2-50C5-P2-200FC-10FC". The last token must be FC: the output layer.
type Spec struct {
	Text   string
	Tokens []Token
}

// String returns the spec in canonical notation.
func (s Spec) String() string {
	parts := make([]string, len(s.Tokens))
	for i, t := range s.Tokens {
		switch t.Kind {
		case Conv:
			parts[i] = fmt.Sprintf("%dC%d", t.N, t.K)
			if t.Stride > 1 {
				parts[i] += fmt.Sprintf("s%d", t.Stride)
			}
			if t.HasPad && (t.K%2 == 0 || t.Pad != t.K/2) {
				parts[i] += fmt.Sprintf("p%d", t.Pad)
			}
			if t.Bias {
				parts[i] += "b"
			}
		case AvgPool:
			parts[i] = fmt.Sprintf("P%d", t.K)
		case MaxPool:
			parts[i] = fmt.Sprintf("MP%d", t.K)
		case FC:
			parts[i] = fmt.Sprintf("%dFC", t.N)
			if t.Bias {
				parts[i] += "b"
			}
		}
	}
	return strings.Join(parts, "-")
}

// Paper networks (docs/algorithm.md section 1).
const (
	LeNetSpec = "20C5-P2-50C5-P2-200FC-10FC"
	VGG7Spec  = "64C3-64C3-P2-128C3-128C3-128C3-MP2-1024FC-10FC"
)

// maxUnits bounds channel and unit counts so a typo cannot ask for terabytes.
const maxUnits = 1 << 16

// ParseSpec parses a network spec. Errors wrap ErrSpec and point at the bad token.
func ParseSpec(text string) (Spec, error) {
	s := Spec{Text: text}
	if strings.TrimSpace(text) == "" {
		return s, fmt.Errorf("%w: empty spec; want something like %q", ErrSpec, LeNetSpec)
	}
	pos := 0
	for i, raw := range strings.Split(text, "-") {
		tok, err := parseToken(strings.TrimSpace(raw))
		if err != nil {
			return s, fmt.Errorf("%w %q: token %d %q at offset %d: %v", ErrSpec, text, i+1, raw, pos, err)
		}
		tok.Pos = pos
		s.Tokens = append(s.Tokens, tok)
		pos += len(raw) + 1
	}
	last := s.Tokens[len(s.Tokens)-1]
	if last.Kind != FC {
		return s, fmt.Errorf("%w %q: the last layer %q must be fully connected (e.g. 10FC): it is the output layer", ErrSpec, text, last.Text)
	}
	return s, nil
}

func parseToken(t string) (Token, error) {
	tok := Token{Text: t}
	up := strings.ToUpper(t)
	num := func(s, what string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s %q is not a positive integer", what, s)
		}
		if n > maxUnits {
			return 0, fmt.Errorf("%s %d is larger than %d", what, n, maxUnits)
		}
		return n, nil
	}
	var err error
	switch {
	case t == "":
		return tok, errors.New("empty layer (two dashes in a row, or a dash at an end)")
	case strings.HasPrefix(up, "MP"):
		tok.Kind = MaxPool
		tok.K, err = num(up[2:], "pool size")
		if err == nil && tok.K != 2 {
			err = fmt.Errorf("only 2x2 max pooling (MP2) is supported, got MP%d", tok.K)
		}
	case strings.HasPrefix(up, "P"):
		tok.Kind = AvgPool
		tok.K, err = num(up[1:], "pool size")
		if err == nil && tok.K != 2 {
			err = fmt.Errorf("only 2x2 average pooling (P2) is supported, got P%d", tok.K)
		}
	case strings.HasSuffix(up, "FCB"):
		tok.Kind, tok.Bias = FC, true
		tok.N, err = num(up[:len(up)-3], "unit count")
	case strings.HasSuffix(up, "FC"):
		tok.Kind = FC
		tok.N, err = num(up[:len(up)-2], "unit count")
	case strings.Contains(up, "C"):
		i := strings.Index(up, "C")
		tok.Kind = Conv
		tok.N, err = num(up[:i], "channel count")
		if err == nil {
			err = parseConvTail(up[i+1:], &tok)
		}
	default:
		err = errors.New("unknown layer; want NCk[sS][pP][b] (conv, e.g. 20C5 or 20C3s2p1b), Pk (average pool, P2), MPk (max pool, MP2) or NFC[b] (fully connected, e.g. 200FC)")
	}
	return tok, err
}

// Shape is the shape of one sample's activations: C channels of H x W.
// A flattened (FC) activation has H = W = 1.
type Shape struct{ C, H, W int }

// Size is C*H*W.
func (s Shape) Size() int { return s.C * s.H * s.W }

func (s Shape) String() string {
	if s.H == 1 && s.W == 1 {
		return strconv.Itoa(s.C)
	}
	return fmt.Sprintf("%dx%dx%d", s.C, s.H, s.W)
}

// parseConvTail parses what follows the C of a conv token: the kernel size, then
// optionally sS (stride), pP (zero padding on every side) and B (bias), e.g.
// "5", "3S2P1B".
func parseConvTail(t string, tok *Token) error {
	digits := func(s string) (string, string) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[:i], s[i:]
	}
	k, rest := digits(t)
	n, err := strconv.Atoi(k)
	if err != nil || n <= 0 || n > 64 {
		return fmt.Errorf("kernel size %q is not an integer in 1..64", k)
	}
	tok.K = n
	for rest != "" {
		c := rest[0]
		if c == 'B' && !tok.Bias {
			tok.Bias = true
			rest = rest[1:]
			continue
		}
		v, r := digits(rest[1:])
		x, err := strconv.Atoi(v)
		switch {
		case c == 'S' && tok.Stride == 0:
			if err != nil || x < 1 || x > tok.K {
				return fmt.Errorf("stride %q: want an integer in 1..%d (the kernel size)", v, tok.K)
			}
			tok.Stride = x
		case c == 'P' && !tok.HasPad:
			if err != nil || x < 0 || x >= tok.K {
				return fmt.Errorf("padding %q: want an integer in 0..%d (below the kernel size)", v, tok.K-1)
			}
			tok.Pad, tok.HasPad = x, true
		default:
			return fmt.Errorf("%q after the kernel size: want sS (stride), pP (padding) and b (bias), each at most once, e.g. 20C3s2p1b", rest)
		}
		rest = r
	}
	if !tok.HasPad && tok.K%2 == 0 {
		return fmt.Errorf("kernel size %d must be odd for same padding; or give the padding, e.g. %dC%dp%d", tok.K, tok.N, tok.K, tok.K/2)
	}
	return nil
}
