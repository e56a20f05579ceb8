package snapstore

import "hash/crc64"

// crcShift is a linear operator on CRC-64 (ECMA, reflected) values: it
// turns the CRC of some data a into what the CRC register holds after a is
// followed by n zero bytes. With it the CRC of a‖b follows from the CRCs of
// a and b and the length of b alone (crcCombine), which lets each chunk
// carry a CRC of its own while the record keeps the CRC of the whole data,
// without a second pass over the bytes. The construction is zlib's
// crc32_combine, over 64-bit vectors.
type crcShift [64]uint64

// apply multiplies the operator (a 64x64 matrix over GF(2), one column per
// bit) by vec.
func (m *crcShift) apply(vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

// then returns the operator that applies m, then next.
func (m *crcShift) then(next *crcShift) crcShift {
	var out crcShift
	for i := range out {
		out[i] = next.apply(m[i])
	}
	return out
}

// shiftBy returns the operator that appends n zero bytes.
func shiftBy(n int64) crcShift {
	var out, step crcShift
	for i := range out {
		out[i] = 1 << i // identity
	}
	// One zero bit: shift right, and fold the polynomial in when the low
	// bit falls out. Squared three times, one zero byte.
	step[0] = crc64.ECMA
	for i := 1; i < 64; i++ {
		step[i] = 1 << (i - 1)
	}
	for range 3 {
		step = step.then(&step)
	}
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			out = out.then(&step)
		}
		step = step.then(&step)
	}
	return out
}

// crcCombine returns the CRC-64 of a‖b from crcA = CRC-64(a), crcB =
// CRC-64(b) and shift = shiftBy(len(b)). The pre- and post-inversion of
// the CRC cancel out, as they do for zlib's CRC-32.
func crcCombine(crcA, crcB uint64, shift *crcShift) uint64 {
	return shift.apply(crcA) ^ crcB
}
