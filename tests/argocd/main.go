// lua-health runs an Argo CD resource health script the way Argo CD does (gopher-lua, the
// object as the global `obj`, the script's returned table's status and message) against the
// JSON objects given on standard input (a kubectl list or one object), printing one line per
// object: "<name> <status> <message>".
//
//	lua-health <script.lua> < objects.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

func toLua(L *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []interface{}:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]interface{}:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	return lua.LNil
}

func health(script string, obj map[string]interface{}) (string, string, error) {
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return "", "", err
	}
	t, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	return lua.LVAsString(t.RawGetString("status")), lua.LVAsString(t.RawGetString("message")), nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: lua-health <script.lua> < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var in map[string]interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "reading the objects:", err)
		os.Exit(1)
	}
	items := []interface{}{in}
	if list, ok := in["items"].([]interface{}); ok {
		items = list
	}
	for _, item := range items {
		obj, _ := item.(map[string]interface{})
		meta, _ := obj["metadata"].(map[string]interface{})
		status, message, err := health(string(script), obj)
		if err != nil {
			fmt.Fprintln(os.Stderr, "the script failed:", err)
			os.Exit(1)
		}
		fmt.Printf("%v %s %s\n", meta["name"], status, message)
	}
}
