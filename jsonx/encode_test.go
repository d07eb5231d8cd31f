package jsonx

import (
	"math"
	"strconv"
	"testing"
)

// pair is a Fields with one member.
type pair struct {
	key string
	val int
}

func (p pair) AppendFields(b []byte) []byte {
	b = append(b, ',')
	b = AppendString(b, p.key)
	b = append(b, ':')
	return strconv.AppendInt(b, int64(p.val), 10)
}

type noFields struct{}

func (noFields) AppendFields(b []byte) []byte { return b }

type badFields struct{}

func (badFields) AppendFields(b []byte) []byte { return append(b, `"a":1`...) }

func TestAppendValue(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, `null`},
		{"string", "a<b>&\"c\"", `"a<b>&\"c\""`},
		{"bools", []any{true, false}, `[true,false]`},
		{"ints", []any{0, -7, int64(math.MinInt64), uint64(math.MaxUint64)}, `[0,-7,-9223372036854775808,18446744073709551615]`},
		{"floats", []any{0.0, math.Copysign(0, -1), 1.5, -2.25, 100.0, 1e6, 1e20, 123456789.0, 0.1, 1e-6},
			`[0,-0,1.5,-2.25,100,1000000,100000000000000000000,123456789,0.1,0.000001]`},
		{"float exponents", []any{1e21, 1.5e300, 1e-7, -2.5e-10, 5e-324}, `[1e+21,1.5e+300,1e-7,-2.5e-10,5e-324]`},
		{"raw", Raw(`{"x": [1, 2]}`), `{"x": [1, 2]}`},
		{"fields", pair{"k", 3}, `{"k":3}`},
		{"empty fields", noFields{}, `{}`},
		{"strings", []string{"a", "b\n"}, `["a","b\n"]`},
		{"empty list", []any{}, `[]`},
		{"empty map", map[string]any{}, `{}`},
		{"sorted keys", map[string]any{"b": 1, "a": 2, "B": 3, "é": 4, "aa": 5, "": 6},
			`{"":6,"B":3,"a":2,"aa":5,"b":1,"é":4}`},
		{"nested", map[string]any{"z": map[string]any{"y": []any{map[string]string{"d": "x", "c": "y"}}, "x": nil}, "a": pair{"p", 1}},
			`{"a":{"p":1},"z":{"x":null,"y":[{"c":"y","d":"x"}]}}`},
		{"map int", map[string]int{"s2": 0, "s1": 4}, `{"s1":4,"s2":0}`},
		{"map uint64", map[string]uint64{"200": 7, "404": 1}, `{"200":7,"404":1}`},
		{"big map", bigMap(20), `{"k00":0,"k01":1,"k02":2,"k03":3,"k04":4,"k05":5,"k06":6,"k07":7,"k08":8,"k09":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k18":18,"k19":19}`},
	}
	for _, tt := range tests {
		got, err := AppendValue([]byte("x"), tt.v)
		if err != nil {
			t.Errorf("%s: AppendValue error: %v", tt.name, err)
			continue
		}
		if string(got) != "x"+tt.want {
			t.Errorf("%s: AppendValue = %s, want %s", tt.name, got[1:], tt.want)
		}
	}
}

func bigMap(n int) map[string]int {
	m := make(map[string]int)
	for i := range n {
		m["k"+strconv.Itoa(i/10)+strconv.Itoa(i%10)] = i
	}
	return m
}

func TestAppendValueErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"type", int32(1), "jsonx: unsupported type int32"},
		{"nested type", map[string]any{"a": []any{1, struct{}{}}}, "jsonx: unsupported type struct {}"},
		{"NaN", math.NaN(), "jsonx: unsupported value NaN"},
		{"Inf", []any{math.Inf(-1)}, "jsonx: unsupported value -Inf"},
		{"empty raw", Raw(nil), "jsonx: empty Raw value"},
		{"bad fields", badFields{}, "jsonx: jsonx.badFields.AppendFields did not start with a comma"},
	}
	for _, tt := range tests {
		dst := []byte("keep")
		got, err := AppendValue(dst, tt.v)
		if errString(err) != tt.want {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
		if string(got) != "keep" {
			t.Errorf("%s: dst = %q after an error, want it unchanged", tt.name, got)
		}
	}
}

func TestAppendCompact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`1e2`, `1e2`},
		{`"a b"`, `"a b"`},
		{"{ \"a b\\\" c\" :\n[ 1 ,\t2 ]\r\n}", `{"a b\" c":[1,2]}`},
		{`["\\", " "]`, `["\\"," "]`},
	}
	for _, tt := range tests {
		if got := string(AppendCompact([]byte("x"), []byte(tt.in))); got != "x"+tt.want {
			t.Errorf("AppendCompact(%q) = %s, want %s", tt.in, got[1:], tt.want)
		}
	}
}
