// Command etcd is etcd's own server/main.go, wrapped in a module of ours because etcd's
// modules carry relative replace directives that `go install` refuses.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
