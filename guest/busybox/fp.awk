# fp.awk - double-precision arithmetic through busybox awk, for comparing two machines.
#
# Debian's busybox-static is built without awk's math library (sqrt, exp, log, sin, atan2 and
# ^ say "Math support is not compiled in"), so those are computed here from +, -, *, / and
# comparisons: Newton's method, range reduction and series. Every line prints its values
# exactly (%.17g and %a); the output depends only on the machine's floating point (and on
# the libc's printf and strtod, the same binary on both sides).

function show(name, x) { printf "%s: %.17g %a\n", name, x, x }
function abs(x) { return x < 0 ? -x : x }

# 2^k by repeated doubling or halving: each step is exact until the result leaves the normal
# range, then rounds as the hardware rounds.
function pow2(k,   r) {
	r = 1
	for (; k > 0; k--) r *= 2
	for (; k < 0; k++) r /= 2
	return r
}

# Newton's method from an estimate scaled into [0.5, 2); stops when it stops moving.
function my_sqrt(x,   s, r, prev, i) {
	if (x < 0) return ninf - ninf
	if (x == 0 || x != x || x > big) return x
	s = 1
	while (x > 4) { x /= 4; s *= 2 }
	while (x < 0.25) { x *= 4; s /= 2 }
	r = (x + 1) / 2
	for (i = 0; i < 60; i++) {
		prev = r
		r = (r + x / r) / 2
		if (r == prev) break
	}
	return r * s
}

# exp: x = k ln2 + r with |r| <= ln2/2 (ln2 in two parts, Cody and Waite), a Taylor series
# for e^r, then scaled by 2^k.
function my_exp(x,   k, r, t, s, n) {
	if (x != x) return x
	if (x > 709.8) return big * 10
	if (x < -745.2) return 0
	k = int(x / LN2 + (x < 0 ? -0.5 : 0.5))
	r = (x - k * LN2_HI) - k * LN2_LO
	t = 1
	s = 1
	for (n = 1; n < 30; n++) {
		t = t * r / n
		s += t
	}
	if (k > 1000) { s *= pow2(1000); k -= 1000 }
	return s * pow2(k)
}

# log: x = m 2^e with m in [sqrt(1/2), sqrt(2)), then 2 atanh((m-1)/(m+1)) as a series.
function my_log(x,   e, m, z, z2, t, s, n) {
	if (x != x || x < 0) return ninf - ninf
	if (x == 0) return ninf
	if (x > big) return x
	e = 0
	m = x
	while (m >= SQRT2) { m /= 2; e++ }
	while (m < SQRT2 / 2) { m *= 2; e-- }
	z = (m - 1) / (m + 1)
	z2 = z * z
	t = z
	s = 0
	for (n = 1; n < 80; n += 2) {
		s += t / n
		t *= z2
	}
	return 2 * s + e * LN2_HI + e * LN2_LO
}

# sin and cos: reduced by pi/2 with pi/2 in three parts, then Taylor series.
function reduce(x) {
	QK = int(x / PIO2 + (x < 0 ? -0.5 : 0.5))
	return ((x - QK * PIO2_1) - QK * PIO2_2) - QK * PIO2_3
}
function sin_series(r,   t, s, n) {
	t = r; s = r
	for (n = 1; n < 14; n++) { t = -t * r * r / ((2 * n) * (2 * n + 1)); s += t }
	return s
}
function cos_series(r,   t, s, n) {
	t = 1; s = 1
	for (n = 1; n < 14; n++) { t = -t * r * r / ((2 * n - 1) * (2 * n)); s += t }
	return s
}
function my_sin(x,   r, q) {
	r = reduce(x)
	q = QK % 4
	if (q < 0) q += 4
	if (q == 0) return sin_series(r)
	if (q == 1) return cos_series(r)
	if (q == 2) return -sin_series(r)
	return -cos_series(r)
}
function my_cos(x) { return my_sin(x + PIO2) }

# atan by argument halving (atan x = 2 atan(x / (1 + sqrt(1 + x^2)))) and a series.
function my_atan(x,   k, t, s, n, x2) {
	k = 1
	while (abs(x) > 0.1) { x = x / (1 + my_sqrt(1 + x * x)); k *= 2 }
	x2 = x * x
	t = x; s = 0
	for (n = 1; n < 40; n += 2) { s += t / n; t = -t * x2 }
	return k * s
}
function my_pow(x, y) { return my_exp(y * my_log(x)) }

BEGIN {
	big = 1.7976931348623157e308
	ninf = -big * 2
	LN2 = 0.69314718055994530942
	LN2_HI = 6.93147180369123816490e-01
	LN2_LO = 1.90821492927058770002e-10
	SQRT2 = 1.41421356237309504880
	PIO2 = 1.57079632679489661923
	PIO2_1 = 1.57079632673412561417e+00
	PIO2_2 = 6.07710050650619224932e-11
	PIO2_3 = 2.02226624879595063154e-21

	print "== division"
	show("1/3", 1 / 3); show("2/3", 2 / 3); show("1/7", 1 / 7); show("-1/3", -1 / 3)
	show("355/113", 355 / 113); show("22/7", 22 / 7); show("1/10", 1 / 10)
	show("1e308/1e-10", 1e308 / 1e-10); show("1e-308/1e10", 1e-308 / 1e10)
	show("5e-324/2", 5e-324 / 2); show("1.5e-323/2", 1.5e-323 / 2)
	show("7/0.1", 7 / 0.1); show("2^53/3", 9007199254740992 / 3)
	show("7.5%2", 7.5 % 2); show("-7.5%2", -7.5 % 2); show("1e300%7", 1e300 % 7)

	print "== sqrt"
	n = split("0 1 2 3 4 10 0.5 1e-300 1e300 5e-324 1.7976931348623157e308 12345.6789 0.1", v, " ")
	for (i = 1; i <= n; i++) show("sqrt(" v[i] ")", my_sqrt(v[i] + 0))
	r = my_sqrt(2); show("sqrt(2)^2-2", r * r - 2)

	print "== exp"
	n = split("0 1 -1 0.5 2 10 -10 100 -100 700 709.7 -700 -740 -745 1e-10 -1e-10 0.69314718055994531", v, " ")
	for (i = 1; i <= n; i++) show("exp(" v[i] ")", my_exp(v[i] + 0))

	print "== log"
	n = split("1 2 10 0.5 0.1 1e-300 1e300 5e-324 2.718281828459045 1.0000000001 0.9999999999 1.7976931348623157e308 123456789", v, " ")
	for (i = 1; i <= n; i++) show("log(" v[i] ")", my_log(v[i] + 0))
	show("log(0)", my_log(0)); show("log(-1)", my_log(-1))
	show("exp(log(10))", my_exp(my_log(10))); show("log(exp(3))", my_log(my_exp(3)))

	print "== sin cos atan"
	n = split("0 0.5 1 2 3 3.141592653589793 -1 10 100 1000 1e6 1e-8 -0.25 6.283185307179586", v, " ")
	for (i = 1; i <= n; i++) {
		show("sin(" v[i] ")", my_sin(v[i] + 0))
		show("cos(" v[i] ")", my_cos(v[i] + 0))
	}
	show("4atan(1)", 4 * my_atan(1)); show("atan(0.5)", my_atan(0.5)); show("atan(-30)", my_atan(-30))
	show("machin pi", 16 * my_atan(1 / 5) - 4 * my_atan(1 / 239))
	show("2^0.5", my_pow(2, 0.5)); show("10^-5", my_pow(10, -5)); show("1.0001^10000", my_pow(1.0001, 10000))

	print "== int"
	n = split("3.7 -3.7 0.5 -0.5 2.5 1e15 1e15+0.5 4503599627370495.5 9007199254740993 1e18 9.3e18 -9.3e18 1e300 -1e300", v, " ")
	for (i = 1; i <= n; i++) printf "int(%s): %.17g\n", v[i], int(v[i] + 0)
	printf "int(inf): %.17g int(-inf): %.17g int(nan): %.17g\n", int(-ninf), int(ninf), int(ninf - ninf)
	printf "%%d: %d %d %d %d %d %d\n", 2147483647.9, -2147483648.9, 3e9, -3e9, -ninf, ninf - ninf
	printf "%%x %%o %%i: %x %o %i %x\n", 255.9, 8.5, -7.9, -1

	print "== large and tiny"
	show("max", big); show("max*2", big * 2); show("-max*2", -big * 2); show("max+max/2^53", big + big / 9007199254740992)
	show("min normal", pow2(-1022)); show("min normal/2", pow2(-1022) / 2); show("min subnormal", pow2(-1074))
	show("2^-1075", pow2(-1075)); show("2^-1074*0.5", pow2(-1074) * 0.5); show("2^-1074*0.75", pow2(-1074) * 0.75)
	show("2^-1074*1.5", pow2(-1074) * 1.5); show("2^-1074*2.5", pow2(-1074) * 2.5)
	show("2^1023", pow2(1023)); show("2^1024", pow2(1024)); show("2^-1074*2^1074", pow2(-1074) * pow2(1000) * pow2(74))
	show("1e-310*1e10", 1e-310 * 1e10); show("1e-320+1e-320", 1e-320 + 1e-320); show("1e-200*1e-200", 1e-200 * 1e-200)
	show("-1e-200*1e-200", -1e-200 * 1e-200); show("-0*1", -1e-200 * 1e-200 * 1)
	show("inf-inf", -ninf + ninf); show("-(inf-inf)", -(-ninf + ninf)); show("0*inf", 0 * -ninf)
	show("nan*-1", (ninf - ninf) * -1); show("nan+1", (ninf - ninf) + 1)
	nan = ninf - ninf
	printf "nan==nan %d nan<1 %d nan>1 %d nan!=nan %d inf>max %d -0==0 %d\n", (nan == nan), (nan < 1), (nan > 1), (nan != nan), (-ninf > big), ((-1e-200 * 1e-200) == 0)

	print "== sums"
	s = 0; for (i = 0; i < 10; i++) s += 0.1; show("0.1*10 summed", s)
	show("0.1+0.2", 0.1 + 0.2); show("(0.1+0.2)+0.3", (0.1 + 0.2) + 0.3); show("0.1+(0.2+0.3)", 0.1 + (0.2 + 0.3))
	show("1e16+1-1e16", 1e16 + 1 - 1e16); show("1e16+2-1e16", 1e16 + 2 - 1e16); show("2^53+1", 9007199254740992 + 1)
	show("1-2^-53-2^-53", 1 - pow2(-53) - pow2(-53)); show("1+2^-52", 1 + pow2(-52)); show("1+3*2^-53", 1 + 3 * pow2(-53))
	f = 0; for (i = 1; i <= 10000; i++) f += 1 / i; show("harmonic up", f)
	b = 0; for (i = 10000; i >= 1; i--) b += 1 / i; show("harmonic down", b)
	show("up-down", f - b)
	s = 0; c = 0
	for (i = 0; i < 10000; i++) { y = 0.1 - c; t = s + y; c = (t - s) - y; s = t }
	show("kahan 0.1*1e4", s)
	s = 0; for (i = 0; i < 10000; i++) s += 0.1; show("naive 0.1*1e4", s)
	s = 0; for (i = 1; i <= 5000; i++) s += 1 / (i * i); show("sum 1/i^2", s); show("sqrt(6 sum)", my_sqrt(6 * s))
	s = 0; sg = 1; for (i = 0; i < 5000; i++) { s += sg / (2 * i + 1); sg = -sg }; show("leibniz", 4 * s)
	p = 1; for (i = 1; i <= 170; i++) p *= i; show("170!", p); show("171!", p * 171)
	p = 1; for (i = 1; i <= 60; i++) p /= 7; show("7^-60", p)
	x = 0.5; for (i = 0; i < 100; i++) x = 3.9 * x * (1 - x); show("logistic 100", x)

	print "== printf and conversions"
	printf "%%.0f: %.0f %.0f %.0f %.0f %.0f\n", 0.5, 1.5, 2.5, -0.5, 3.5
	printf "%%.2f: %.2f %.2f %.2f\n", 2.675, 1.005, -1.005
	printf "%%.20f: %.20f\n", 0.1
	printf "%%e: %e %e %.3e %E\n", 1 / 3, 6.02214076e23, 1.6e-19, 5e-324
	printf "%%g: %g %g %g %g %g %G\n", 100000, 1000000, 1e-4, 1e-5, 123456789, 1e-10
	printf "%%10.4f|%%-10.3e|%%+g: %10.4f|%-10.3e|%+g\n", 3.14159265, 2.71828, 42
	printf "%%.17g of strings: %.17g %.17g %.17g %.17g %.17g\n", "0.1", "1e-400", "1e400", "4.9e-324", "2.4703282292062328e-324"
	printf "%%a of strings: %a %a %a %a\n", "2.4703282292062327e-324", "0x1.8p1", "1e23", "8.98846567431158e307"
	printf "strtod: %.17g %.17g %.17g %.17g\n", "  12.5e1xyz", "-.5", "1e-5000", "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792"
	x = 0.1; y = x ""; z = 1e6 ""; w = 1e16 ""; u = 123456789012345678 ""; q = -0.0 ""
	print "concat:", y, z, w, u, q, 1 / 3 "", 100 / 3 ""
	CONVFMT = "%.2f"; y = 3.14159 ""; CONVFMT = "%.6g"
	OFMT = "%.10g"; print "OFMT:", 3.14159265358979, 1e100, 2 / 3; OFMT = "%.6g"
	print "compare:", (0.1 + 0.2 > 0.3), ("10" < "9"), (10 < 9), (1e-300 > 0), (-0.0 < 0), y

	print "== rand"
	srand(42); printf "srand(42):"; for (i = 0; i < 5; i++) printf " %.17g", rand(); printf "\n"
	srand(7); s = 0; for (i = 0; i < 200; i++) s += rand(); show("sum of 200 rand", s)

	print "== mandelbrot"
	for (yy = -1.2; yy <= 1.2; yy += 0.15) {
		line = ""
		for (xx = -2.1; xx <= 0.7; xx += 0.05) {
			zr = 0; zi = 0
			for (k = 0; k < 32 && zr * zr + zi * zi < 4; k++) { t = zr * zr - zi * zi + xx; zi = 2 * zr * zi + yy; zr = t }
			line = line substr(" .:-=+*#%@", int(k / 32 * 9) + 1, 1)
		}
		print line
	}
	show("last yy", yy)
	print "== done"
}
