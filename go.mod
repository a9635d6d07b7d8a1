module github.com/tamavisor/tamavisor

go 1.25.6

require golang.org/x/arch v0.20.0
