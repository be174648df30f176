package redisstore

// DateScore is dateScore, for the tests of package redisstore_test.
var DateScore = dateScore

// LuaSource is the text of lua/<name>.lua, for the tests of package redisstore_test.
func LuaSource(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return string(b)
}
