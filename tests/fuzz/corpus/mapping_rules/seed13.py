a, (b, c) = 1, [2, 3]
x = [1]
x += [a, b, c]
return x[::-1] + list('héllo'[1:3])